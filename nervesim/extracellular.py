"""Extracellular potentials: point, ring, arc and helical contacts in a homogeneous medium, or
potentials imported from a field solver.

Coordinates in µm (fibre along z, at x = y = 0; z = 0 at the start of the first node),
conductivity in S/m, source current in mA, potentials in mV per mA of stimulus amplitude.
Sign convention: a contact of weight +1 carries the stimulus current as a source; the waveform's
sign carries the polarity, so a cathodic pulse is a negative source current at that contact.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ParameterError
from .fibre import Fibre

#: Largest coordinate magnitude (µm, 1 km) and conductivity range (S/m) accepted: far beyond anything
#: physical, and well inside float64, whose squares in the point-source formula would otherwise overflow.
MAX_COORDINATE_UM = 1e9
SIGMA_RANGE_S_M = (1e-20, 1e20)


def _check_coordinates(obj, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not math.isfinite(value):
            raise ParameterError(name, f"{name}={value}: must be finite")
        if name.endswith("_um") and abs(value) > MAX_COORDINATE_UM:
            raise ParameterError(name, f"{name}={value:g}: must be within +-{MAX_COORDINATE_UM:g} um (1 km)")


def _check_finite_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(name, f"{name}={value}: must be a finite positive number")
    return value


@dataclass(frozen=True)
class Medium:
    """Homogeneous medium with principal conductivities along x, y (transverse) and z (the fibre).

    Parameters
    ----------
    sigma_x, sigma_y, sigma_z : float
        Conductivities (S/m), finite and positive; equal for an isotropic medium.
    name : str
        The preset it came from (``endoneurium``, ...), empty otherwise; not part of equality.
    """

    sigma_x: float
    sigma_y: float
    sigma_z: float
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        lo, hi = SIGMA_RANGE_S_M
        for name in ("sigma_x", "sigma_y", "sigma_z"):
            value = _check_finite_positive(name, getattr(self, name))
            if not lo <= value <= hi:
                raise ParameterError(name, f"{name}={value:g}: conductivity must lie between {lo:g} and {hi:g} S/m")

    @classmethod
    def isotropic(cls, sigma_S_m: float) -> Medium:
        """An isotropic medium.

        Parameters
        ----------
        sigma_S_m : float
            Conductivity (S/m), finite and positive.

        Returns
        -------
        Medium
            Equal conductivities along x, y and z.
        """
        return cls(sigma_S_m, sigma_S_m, sigma_S_m)

    @classmethod
    def preset(cls, name: str) -> Medium:
        """A named medium from ``models/media.toml``.

        Parameters
        ----------
        name : str
            A preset, e.g. ``endoneurium``; see `media_presets`.

        Returns
        -------
        Medium
            Its conductivities, with ``name`` set.

        Raises
        ------
        ParameterError
            (``medium``) for an unknown name.
        """
        presets = _read_presets("media.toml")
        if name not in presets:
            raise ParameterError("medium", f"medium {name!r}: choose one of {', '.join(presets)}")
        return cls(*presets[name]["sigma_xyz"], name=name)

    @property
    def sigma_xyz_S_m(self) -> tuple[float, float, float]:
        """(σx, σy, σz) in S/m."""
        return (self.sigma_x, self.sigma_y, self.sigma_z)

    @property
    def description(self) -> str:
        """One phrase for reports, e.g. ``sigma 0.2 S/m`` or ``endoneurium (sigma_xyz 0.1667, 0.1667, 0.5714 S/m)``."""
        if self.sigma_x == self.sigma_y == self.sigma_z:
            values = f"sigma {self.sigma_x:.4g} S/m"
        else:
            values = "sigma_xyz " + ", ".join(f"{s:.4g}" for s in self.sigma_xyz_S_m) + " S/m"
        return f"{self.name} ({values})" if self.name else values


def media_presets() -> dict[str, str]:
    """Named media and where their conductivities come from.

    Returns
    -------
    dict of str to str
        Preset name (a key of ``models/media.toml``) to the source of its values.
    """
    return {name: p["source"] for name, p in _read_presets("media.toml").items()}


@dataclass(frozen=True)
class PointSource:
    """A point current source carrying ``weight`` × the stimulus current.

    Parameters
    ----------
    x_um, y_um, z_um : float
        Position (µm) in the fibre's frame (fibre along z at x = y = 0).
    weight : float
        Share of the stimulus current: +1 carries it with the waveform's sign (a cathodic pulse
        makes it a negative source current); a bipolar pair is two sources of weights −1 and +1.
    """

    x_um: float
    y_um: float
    z_um: float
    weight: float = 1.0

    def __post_init__(self) -> None:
        _check_coordinates(self, ("x_um", "y_um", "z_um", "weight"))


@dataclass(frozen=True)
class RingContact:
    """A band contact on a cylinder parallel to the z axis, discretised into point sources.

    Full ring (``extent_deg`` = 360), partial ring/arc, or helix (``pitch_um`` > 0). The contact
    carries ``weight`` × the stimulus current (sign as for `PointSource`), spread evenly over it.

    Parameters
    ----------
    radius_um : float
        Radius of the cylinder (µm), > 0.
    z_um : float
        Centre of the contact along z (µm).
    weight : float
        Share of the stimulus current.
    extent_deg, start_deg : float
        Angular extent (0 < extent ≤ 360°) and start angle (degrees from +x).
    pitch_um : float
        Advance along z per turn (µm) of a helix, centred on ``z_um``; 0 for a ring.
    width_um : float
        Extent of the band along z (µm), ≥ 0.
    x_um, y_um : float
        Position of the cylinder's axis (µm).
    """

    radius_um: float
    z_um: float
    weight: float = 1.0
    extent_deg: float = 360.0
    start_deg: float = 0.0
    pitch_um: float = 0.0
    width_um: float = 0.0
    x_um: float = 0.0
    y_um: float = 0.0

    def __post_init__(self) -> None:
        _check_coordinates(self, ("radius_um", "z_um", "weight", "extent_deg", "start_deg", "pitch_um", "width_um",
                                  "x_um", "y_um"))
        if self.radius_um <= 0 or not 0 < self.extent_deg <= 360 or self.width_um < 0:
            raise ParameterError("ring", f"ring contact: need radius_um > 0, 0 < extent_deg <= 360, width_um >= 0 "
                             f"(got {self.radius_um}, {self.extent_deg}, {self.width_um})")

    def points(self, spacing_um: float) -> tuple[np.ndarray, np.ndarray]:
        """The contact discretised into point sources.

        Parameters
        ----------
        spacing_um : float
            Largest distance (µm) between neighbouring points.

        Returns
        -------
        xyz : ndarray, shape (n, 3)
            Source positions (µm).
        weights : ndarray, shape (n,)
            Their shares of the stimulus current, summing to ``weight``.
        """
        arc = math.radians(self.extent_deg) * self.radius_um
        n_arc = max(8, math.ceil(arc / spacing_um))
        n_w = max(1, math.ceil(self.width_um / spacing_um)) if self.width_um > 0 else 1
        # Midpoints of equal cells: exact for the periodic full ring (trapezoid = midpoint), O(h²) otherwise.
        theta = math.radians(self.start_deg) + math.radians(self.extent_deg) * (np.arange(n_arc) + 0.5) / n_arc
        dz_w = self.width_um * ((np.arange(n_w) + 0.5) / n_w - 0.5)
        turns = (theta - theta.mean()) / (2 * math.pi)
        x = np.repeat(self.x_um + self.radius_um * np.cos(theta), n_w)
        y = np.repeat(self.y_um + self.radius_um * np.sin(theta), n_w)
        z = (self.z_um + self.pitch_um * turns)[:, None] + dz_w[None, :]
        xyz = np.column_stack([x, y, z.ravel()])
        return xyz, np.full(len(xyz), self.weight / len(xyz))

    def translated(self, dx_um: float, dy_um: float, dz_um: float) -> RingContact:
        """The same contact moved.

        Parameters
        ----------
        dx_um, dy_um, dz_um : float
            Displacement (µm).

        Returns
        -------
        RingContact
            A copy with its centre and axis moved.
        """
        return dataclasses.replace(self, x_um=self.x_um + dx_um, y_um=self.y_um + dy_um, z_um=self.z_um + dz_um)

    def distance_to_axis_um(self) -> float:
        """Smallest transverse distance from the ring's circle to the z axis.

        Returns
        -------
        float
            Distance (µm); a lower bound for an arc.
        """
        return abs(self.radius_um - math.hypot(self.x_um, self.y_um))


def _point_xyz(p: PointSource) -> tuple[np.ndarray, np.ndarray]:
    return np.array([[p.x_um, p.y_um, p.z_um]]), np.array([p.weight])


Contact = PointSource | RingContact


@dataclass(frozen=True)
class Electrode:
    """Weighted contacts (point sources, rings, arcs, helices) in a homogeneous medium.

    Parameters
    ----------
    sources : tuple of PointSource or RingContact
        The contacts, in the fibre's frame (µm).
    medium : Medium
        The homogeneous medium.
    points_per_distance : float
        Discretisation of extended contacts: source spacing is the contact's distance to the
        fibre divided by this number (default 8; see tests for convergence).
    label : str
        What the electrode is, for reports (``livanova2000 cuff``); empty for hand-built ones.
    nerve_radius_um : float or None
        Radius (µm) of the nerve the electrode sits on (set by `cuff`); a fibre must lie inside it.
    nerve_axis_um : (float, float)
        Position (µm) of the nerve's axis in this frame (moves with `relative_to`).
    """

    sources: tuple[Contact, ...]
    medium: Medium
    points_per_distance: float = 8.0
    label: str = ""
    nerve_radius_um: float | None = None
    nerve_axis_um: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def point(cls, x_um: float, y_um: float, z_um: float, sigma_S_m: float | Sequence[float] | str) -> Electrode:
        """A monopolar point source.

        Parameters
        ----------
        x_um, y_um, z_um : float
            Position (µm) in the fibre's frame.
        sigma_S_m : float, sequence of 3 floats or str
            One conductivity (S/m), (σx, σy, σz) or a preset name (see `medium_from`).

        Returns
        -------
        Electrode
            One source of weight +1.
        """
        return cls((PointSource(x_um, y_um, z_um),), medium_from(sigma_S_m))

    @classmethod
    def cuff(cls, name: str, nerve_diameter_um: float, z_um: float, medium: Medium | str = "endoneurium",
             x_um: float = 0.0, y_um: float = 0.0) -> Electrode:
        """A named cuff preset from ``models/cuffs.toml`` (e.g. ``livanova2000``) around a nerve.

        If the nerve plus the saline gap does not fit the resting inner radius, the cuff opens and
        its contacts' angular extent shrinks so their arc length is conserved (as ASCENT does).

        Parameters
        ----------
        name : str
            The preset.
        nerve_diameter_um : float
            Nerve diameter (µm); fibres placed outside it are refused (see `check_fibre`).
        z_um : float
            Centre of the cuff along z (µm).
        medium : Medium or str
            The medium or a preset name (default ``endoneurium``).
        x_um, y_um : float
            Position of the nerve axis (µm), i.e. minus the fibre's position in the nerve.

        Returns
        -------
        Electrode
            The two contacts, labelled, knowing the nerve's radius and axis.

        Raises
        ------
        ParameterError
            (``cuff``, ``nerve_diameter_um``, ``medium``) for an unknown preset or a bad value.
        """
        presets = _read_presets("cuffs.toml")
        if name not in presets:
            raise ParameterError("cuff", f"cuff {name!r}: choose one of {', '.join(presets)}")
        c = presets[name]
        d = _check_finite_positive("nerve_diameter_um", nerve_diameter_um)
        radius = max(c["resting_inner_radius_um"], d / 2 + c["min_gap_um"])
        extent = c["contact_extent_deg"] * c["resting_inner_radius_um"] / radius
        half = c["separation_um"] / 2
        contacts = tuple(
            RingContact(radius, z_um + dz, w, extent_deg=extent, pitch_um=c["pitch_um"],
                        width_um=c["contact_width_um"], x_um=x_um, y_um=y_um)
            for dz, w in zip((-half, half), c["weights"]))
        return cls(contacts, medium if isinstance(medium, Medium) else Medium.preset(medium), label=f"{name} cuff",
                   nerve_radius_um=d / 2, nerve_axis_um=(float(x_um), float(y_um)))

    def relative_to(self, x_um: float, y_um: float, z_um: float = 0.0) -> Electrode:
        """The same electrode seen from another fibre.

        Parameters
        ----------
        x_um, y_um : float
            Where that fibre's axis passes (µm, in this electrode's frame).
        z_um : float
            Where that fibre's z origin lies (µm).

        Returns
        -------
        Electrode
            Every contact (and the nerve axis) moved by (−x, −y, −z).
        """
        moved = tuple(
            PointSource(c.x_um - x_um, c.y_um - y_um, c.z_um - z_um, c.weight) if isinstance(c, PointSource)
            else c.translated(-x_um, -y_um, -z_um) for c in self.sources)
        axis = (self.nerve_axis_um[0] - x_um, self.nerve_axis_um[1] - y_um)
        return dataclasses.replace(self, sources=moved, nerve_axis_um=axis)

    def check_fibre(self, diameter_um: float) -> None:
        """Refuse a fibre of ``diameter_um`` (µm) on the z axis that this electrode cannot stimulate.

        The fibre must lie wholly inside the nerve of an electrode that knows it (`cuff`: axis
        distance plus fibre radius within the nerve radius), and no source may lie inside or on
        the fibre. `potentials` applies the same checks; call this to check positions before
        building anything.

        Parameters
        ----------
        diameter_um : float
            Diameter (µm) of the fibre, whose axis is this frame's z axis.

        Raises
        ------
        ParameterError
            (``x_um`` or ``y_um``, whichever offset is larger) naming the nerve and its radius;
            (``electrode``) for a source inside or on the fibre.
        """
        self._checked_sources(diameter_um)

    def _checked_sources(self, diameter_um: float) -> tuple[np.ndarray, np.ndarray]:
        """`source_points` for a fibre of ``diameter_um``, after the checks of `check_fibre`."""
        radius = diameter_um / 2
        if self.nerve_radius_um is not None:
            x, y = -self.nerve_axis_um[0], -self.nerve_axis_um[1]  # the fibre, seen from the nerve axis
            nerve = self.nerve_radius_um
            if math.hypot(x, y) + radius > nerve:
                raise ParameterError(
                    "x_um" if abs(x) >= abs(y) else "y_um",
                    f"the fibre at ({x:g}, {y:g}) um from the nerve axis with radius {radius:g} um does not fit "
                    f"inside the {2 * nerve:g} um nerve (radius {nerve:g} um): place its axis within "
                    f"{max(nerve - radius, 0):g} um of the nerve axis")
        xyz, weights = self.source_points(radius)
        transverse = np.hypot(xyz[:, 0], xyz[:, 1])
        if np.any(transverse <= radius):
            i = int(np.argmin(transverse))
            raise ParameterError(
                "electrode", f"electrode source at x={xyz[i, 0]:.4g}, y={xyz[i, 1]:.4g} um is inside or on the fibre "
                f"(outer radius {radius:g} um): move it to a transverse distance > {radius:g} um")
        return xyz, weights

    @property
    def description(self) -> str:
        """One phrase for reports: what the electrode is, where, and the medium."""
        if self.label:
            what = self.label
            if self.nerve_radius_um is not None:
                what += f" on a {2 * self.nerve_radius_um:g} um nerve"
                if self.nerve_axis_um != (0.0, 0.0):
                    what += f", fibre at ({-self.nerve_axis_um[0]:g}, {-self.nerve_axis_um[1]:g}) um from its axis"
        elif len(self.sources) == 1 and isinstance(self.sources[0], PointSource):
            p = self.sources[0]
            what = f"point source at ({p.x_um:g}, {p.y_um:g}, {p.z_um:.1f}) um"
        else:
            what = f"{len(self.sources)} contacts"
        return f"{what} in {self.medium.description}"

    def source_points(self, fibre_radius_um: float) -> tuple[np.ndarray, np.ndarray]:
        """All point sources, extended contacts discretised for a fibre on the z axis.

        Parameters
        ----------
        fibre_radius_um : float
            The fibre's outer radius (µm): source spacing is the contact's gap to it / ``points_per_distance``.

        Returns
        -------
        xyz : ndarray, shape (n, 3)
            Source positions (µm).
        weights : ndarray, shape (n,)
            Their shares of the stimulus current.
        """
        xyz, w = [], []
        for c in self.sources:
            if isinstance(c, PointSource):
                p, q = _point_xyz(c)
            else:
                gap = c.distance_to_axis_um() - fibre_radius_um
                p, q = c.points(max(gap, 1e-3 * c.radius_um) / self.points_per_distance)
            xyz.append(p)
            w.append(q)
        return np.concatenate(xyz), np.concatenate(w)

    def potentials(self, fibre: Fibre) -> np.ndarray:
        """Potentials at the fibre's section centres for a source current of +1 mA.

        Parameters
        ----------
        fibre : Fibre
            The fibre, on the z axis.

        Returns
        -------
        ndarray, shape (n_sections,)
            Potential (mV per mA of source current; the waveform's sign gives the polarity).

        Raises
        ------
        ParameterError
            As `check_fibre`: (``electrode``) a source inside or on the fibre; (``x_um``/``y_um``)
            a fibre not inside the electrode's nerve.
        """
        xyz, weights = self._checked_sources(fibre.diameter_um)
        m = self.medium
        ve = np.zeros(fibre.n_sections)
        for i in range(0, len(xyz), 256):  # chunks bound the (sources × sections) temporaries
            x, y, z = (xyz[i:i + 256, j, None] * 1e-6 for j in range(3))
            dz = z - fibre.z_um[None, :] * 1e-6
            denom = np.sqrt(m.sigma_y * m.sigma_z * x * x + m.sigma_x * m.sigma_z * y * y
                            + m.sigma_x * m.sigma_y * dz * dz)
            # V = I/(4π·sqrt(σyσz·Δx² + σxσz·Δy² + σxσy·Δz²)); isotropic: I/(4πσr). mA, S/m, m → mV.
            ve += (weights[i:i + 256, None] / (4 * math.pi * denom)).sum(axis=0)
        return ve


def medium_from(sigma_S_m: float | Sequence[float] | str | Medium) -> Medium:
    """A medium from a conductivity, three, a preset name or a `Medium`.

    Parameters
    ----------
    sigma_S_m : float, sequence of 3 floats, str or Medium
        One conductivity (S/m), (σx, σy, σz) in S/m, a preset name (`media_presets`) or a medium.

    Returns
    -------
    Medium
        The medium (a preset's carries its ``name``).

    Raises
    ------
    ParameterError
        (``sigma_S_m``, ``sigma_x``/``sigma_y``/``sigma_z``, ``medium``) for a bad value or name.
    """
    if isinstance(sigma_S_m, Medium):
        return sigma_S_m
    if isinstance(sigma_S_m, str):
        return Medium.preset(sigma_S_m)
    if np.ndim(sigma_S_m) == 0:
        return Medium.isotropic(float(sigma_S_m))
    if len(sigma_S_m) != 3:
        raise ParameterError("sigma_S_m", f"sigma_S_m={sigma_S_m}: give one value or three (sx, sy, sz)")
    return Medium(*map(float, sigma_S_m))


def _read_presets(filename: str) -> dict:
    return tomllib.loads(resources.files("nervesim.models").joinpath(filename).read_text())


@dataclass(frozen=True)
class FilePotentials:
    """Unit-current potentials along the fibre from a field solver (FEM: COMSOL, ASCENT, ...).

    Parameters
    ----------
    z_um : array
        Positions (µm) in the fibre's own coordinate (0 at the start of the first node), strictly
        increasing, covering every section centre; at least two.
    ve_mV : array
        Potential (mV) at each position for a source current of +1 mA (the waveform's sign then
        gives the polarity). Interpolated linearly onto the section centres.
    source : str
        Where they came from (a file name), for messages.

    Raises
    ------
    ParameterError
        (``potentials``) for mismatched, too short, non-finite or non-increasing columns.
    """

    z_um: np.ndarray
    ve_mV: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        z, v = np.asarray(self.z_um, float), np.asarray(self.ve_mV, float)
        where = f" in {self.source}" if self.source else ""
        if z.ndim != 1 or z.shape != v.shape or len(z) < 2:
            raise ParameterError("potentials",
                                 f"potentials{where}: need two equal-length columns z_um, ve_mV with >= 2 rows")
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(v))):
            bad = int(np.flatnonzero(~(np.isfinite(z) & np.isfinite(v)))[0])
            raise ParameterError("potentials", f"potentials{where}: non-finite value in row {bad + 1}")
        if np.any(np.diff(z) <= 0):
            bad = int(np.flatnonzero(np.diff(z) <= 0)[0])
            raise ParameterError("potentials",
                                 f"potentials{where}: z_um must increase strictly (rows {bad + 1}-{bad + 2})")
        object.__setattr__(self, "z_um", z)
        object.__setattr__(self, "ve_mV", v)

    @classmethod
    def from_file(cls, path: str | Path) -> FilePotentials:
        """Read potentials from a file.

        Parameters
        ----------
        path : str or Path
            A CSV with header ``z_um,ve_mV`` or an NPY array of shape (n, 2) (µm, mV per mA).

        Returns
        -------
        FilePotentials
            The samples, with ``source`` the file's path.

        Raises
        ------
        ParameterError
            (``potentials``) for a missing file, a directory, a file that is not a CSV or NPY
            file, a bad header or too few rows.
        """
        path = Path(path)
        if not path.is_file():
            raise ParameterError("potentials", f"potentials file {path}: "
                                 f"{'is a directory' if path.is_dir() else 'does not exist'}; give a CSV or NPY file")
        if path.suffix == ".npy":
            try:
                arr = np.load(path)
            except (ValueError, OSError) as exc:
                raise ParameterError("potentials", f"potentials file {path}: not a NumPy .npy array ({exc}); "
                                     "save an (n, 2) array with numpy.save") from None
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ParameterError("potentials", f"potentials in {path}: NPY must be an (n, 2) array of z_um, ve_mV")
            return cls(arr[:, 0], arr[:, 1], str(path))
        try:
            with open(path, newline="") as fh:
                header = fh.readline().strip().replace(" ", "").split(",")
                rows = [line for line in fh if line.strip()]
        except UnicodeDecodeError:
            raise ParameterError("potentials", f"potentials file {path}: not a text CSV file; give a CSV with "
                                 "header z_um,ve_mV or an NPY file") from None
        if header != ["z_um", "ve_mV"]:
            raise ParameterError("potentials",
                                 f"potentials in {path}: first line must be the header z_um,ve_mV (got {header})")
        if len(rows) < 2:
            raise ParameterError("potentials", f"potentials in {path}: need at least two rows of z_um,ve_mV "
                                 f"after the header (found {len(rows)})")
        try:
            data = np.loadtxt(rows, delimiter=",", ndmin=2)
        except ValueError as exc:
            raise ParameterError("potentials", f"potentials in {path}: {exc}") from None
        if data.shape[1] != 2:
            raise ParameterError("potentials", f"potentials in {path}: need exactly two columns z_um, ve_mV")
        return cls(data[:, 0], data[:, 1], str(path))

    def to_csv(self, path: str | Path) -> None:
        """Write a CSV that `from_file` reads back exactly (header ``z_um,ve_mV``, 17 digits).

        Parameters
        ----------
        path : str or Path
            The file to write.
        """
        np.savetxt(path, np.column_stack([self.z_um, self.ve_mV]), delimiter=",", header="z_um,ve_mV",
                   comments="", fmt="%.17g")

    def potentials(self, fibre: Fibre) -> np.ndarray:
        """Potentials at the fibre's section centres, interpolated linearly in z.

        Parameters
        ----------
        fibre : Fibre
            The fibre whose own z coordinate the samples use.

        Returns
        -------
        ndarray, shape (n_sections,)
            Potential (mV per mA).

        Raises
        ------
        ParameterError
            (``potentials``) if the samples do not cover every section centre.
        """
        lo, hi = fibre.z_um[0], fibre.z_um[-1]
        # A file sampled at the section centres may differ from them by rounding (1e-9 relative).
        slack = 1e-9 * max(abs(lo), abs(hi), 1.0)
        if self.z_um[0] > lo + slack or self.z_um[-1] < hi - slack:
            raise ParameterError(
                "potentials", f"potentials{' in ' + self.source if self.source else ''} cover z "
                f"{self.z_um[0]:.6f}-{self.z_um[-1]:.6f} um but the fibre's sections span {lo:.6f}-{hi:.6f} um: "
                "export the field over the whole fibre or use fewer nodes")
        return np.interp(np.clip(fibre.z_um, self.z_um[0], self.z_um[-1]), self.z_um, self.ve_mV)
