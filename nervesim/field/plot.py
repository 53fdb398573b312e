"""Figure of a solved field: the cross-section (nerve, fascicles, cuff, contacts, fibre) and the potential along
fibres (what ``nervesim field --plot`` is meant to show, issue 9)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def cuff_outlines(cuff) -> list[tuple[np.ndarray, np.ndarray]]:
    """The cuff's silicone in the cross-section, as lines to draw (µm): a tube's or helix's inner and outer arcs; a
    U-shaped cuff's lumen (half circle and channel) and outer circle, turned by its angle.

    Parameters
    ----------
    cuff : Cuff, HelixCuff or UCuff
        The cuff.

    Returns
    -------
    list of tuple of ndarray
        (x, y) of each line.
    """
    from .spec import UCuff

    if not isinstance(cuff, UCuff):
        a = np.radians(cuff.angle_deg + np.linspace(0, cuff.arc_deg, 181))
        radii = (cuff.inner_radius_um, cuff.inner_radius_um + cuff.thickness_um)
        return [(r * np.cos(a), r * np.sin(a)) for r in radii]
    r, t = cuff.inner_radius_um, cuff.tangent_um
    half = np.radians(np.linspace(90, 270, 91))
    lumen = np.concatenate([[[t, r]], np.column_stack([r * np.cos(half), r * np.sin(half)]), [[t, -r]]])
    full = np.radians(np.linspace(0, 360, 181))
    outer = np.column_stack([cuff.outer_x_um + cuff.outer_radius_um * np.cos(full),
                             cuff.outer_y_um + cuff.outer_radius_um * np.sin(full)])
    co, si = np.cos(np.radians(cuff.angle_deg)), np.sin(np.radians(cuff.angle_deg))
    return [(co * p[:, 0] - si * p[:, 1], si * p[:, 0] + co * p[:, 1]) for p in (lumen, outer)]


def plot_field(field, path: str | Path, fibres: Mapping[str, object], xy_um: tuple[float, float],
               weights: Sequence[float] | None = None) -> Path:
    """Write a two-panel figure to ``path``.

    Parameters
    ----------
    field : Field
        A solved field.
    path : str or Path
        The image file.
    fibres : mapping
        Label -> Fibre, each drawn with its centre node at the model's mid-length.
    xy_um : tuple of float
        The fibres' place in the cross-section (µm).
    weights : sequence of float, optional
        Contact weights (default: one contact, weight 1).

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = field.spec
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5))

    def closed(outline):  # the true outline (circle, ellipse or polygon corners), closed for drawing
        xy = outline.outline_um()
        return np.vstack([xy, xy[:1]]).T

    ax.plot(*closed(spec.nerve), "k-", label="nerve (epineurium)")
    for i, f in enumerate(spec.fascicles):
        ax.plot(*closed(f), "b-", label="endoneurium | perineurium layer" if i == 0 else None)
    if spec.cuff is not None:
        for i, (x, y) in enumerate(cuff_outlines(spec.cuff)):
            ax.plot(x, y, color="0.5", label="cuff" if i == 0 else None)
    for i, (x, y, z) in enumerate(spec.sources_um()):
        ax.plot(x, y, "r^", ms=8, label="contact sources" if i == 0 else None)
        ax.annotate(f"{i + 1}: z = {z / 1000:g} mm", (x, y), xytext=(4, 4 - 12 * i), textcoords="offset points",
                    fontsize=7)
    ax.plot(*xy_um, "k+", ms=10, label="fibre")
    ax.set_aspect("equal")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("cross-section")
    for label, fibre in fibres.items():
        bx.plot(field.section_z_um(fibre) / 1000, field.potentials(fibre, *xy_um, weights=weights), label=label)
    bx.set_xlabel("z (mm)")
    bx.set_ylabel(f"potential (mV per mA, weights {list(weights) if weights is not None else [1]})")
    bx.legend(fontsize=8)
    bx.set_title("potential along the fibre")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
