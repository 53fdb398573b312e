"""The therapy study's results from its per-fibre thresholds: fractions, windows, tables and figures."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from nervesim.analyses import activated_fraction

#: Fractions of a type whose currents the summary lists.
LEVELS = (0.1, 0.5, 0.95)
#: Currents (mA) of the recruitment curves.
CURVE_MA = np.round(np.geomspace(0.02, 10.0, 121), 5)


def current_for(thr: np.ndarray, frac: float) -> float:
    """The lowest current (mA) that makes at least ``frac`` of the fibres fire; NaN if none below the largest
    current searched."""
    s = np.sort(np.nan_to_num(thr, nan=np.inf))
    value = s[max(0, math.ceil(frac * len(s) - 1e-9) - 1)]
    return float(value) if np.isfinite(value) else math.nan


def column(width_ms: float) -> str:
    """The CSV column of the thresholds at one pulse width."""
    return f"threshold_mA_{width_ms * 1e3:.0f}us"


def _thr(rows, nerve, angle, ftype, width_ms) -> np.ndarray:
    return np.array([r[column(width_ms)] for r in rows
                     if r["nerve"] == nerve and r["cuff_angle_deg"] == angle and r["fibre_type"] == ftype], float)


def _spread(values) -> dict:
    v = np.array(values, float)
    return {"mean": float(np.nanmean(v)) if np.any(np.isfinite(v)) else None,
            "min": float(np.nanmin(v)) if np.any(np.isfinite(v)) else None,
            "max": float(np.nanmax(v)) if np.any(np.isfinite(v)) else None, "per_nerve": [
                None if math.isnan(x) else x for x in v.tolist()]}


def summarise(study: dict, rows: list[dict], trains: list[dict], n_nerves: int) -> dict:
    """Fractions at the clinical settings, windows, recruitment curves and trains (per nerve and their spread)."""
    types = [f["type"] for f in study["fibre"]]
    share = {f["type"]: f["share"] for f in study["fibre"]}
    nerves = range(n_nerves)
    clinical = []
    for p in study["protocol"]:
        for c in p["currents_mA"]:
            per_type = {t: [float(activated_fraction(_thr(rows, n, 0.0, t, p["width_ms"]), [c])[0]) for n in nerves]
                        for t in types}
            whole = [sum(share[t] * per_type[t][n] for t in types) / sum(share.values()) for n in nerves]
            clinical.append({"protocol": p["name"], "width_ms": p["width_ms"], "current_mA": c,
                             **{t: _spread(v) for t, v in per_type.items()}, "whole nerve": _spread(whole)})
    win = study["window"]

    def window(nerve, angle, w):
        lo = current_for(_thr(rows, nerve, angle, win["intended"], w), win["intended_fraction"])
        hi = current_for(_thr(rows, nerve, angle, win["side"], w), win["side_fraction"])
        return lo, hi, hi / lo

    windows = []
    for w in study["pulse"]["widths_ms"]:
        per = [window(n, 0.0, w) for n in nerves]
        windows.append({"width_ms": w, "cuff_angle_deg": 0.0, "intended_mA": _spread([p[0] for p in per]),
                        "side_mA": _spread([p[1] for p in per]), "ratio": _spread([p[2] for p in per])})
    for a in [0.0] + list(study["run"]["rotations_deg"]):
        for w in study["pulse"]["widths_ms"]:
            lo, hi, ratio = window(0, a, w)
            windows.append({"width_ms": w, "cuff_angle_deg": a, "nerve": 0, "intended_mA": lo, "side_mA": hi,
                            "ratio": ratio})
    levels = [{"fibre_type": t, "width_ms": w, "fraction": f,
               "current_mA": _spread([current_for(_thr(rows, n, 0.0, t, w), f) for n in nerves])}
              for t in types for w in study["pulse"]["widths_ms"] for f in LEVELS]
    curves = {f"{t} {w * 1e3:.0f} us": [activated_fraction(_thr(rows, n, 0.0, t, w), CURVE_MA).tolist() for n in nerves]
              for t in types for w in study["pulse"]["widths_ms"]}
    flagged = {t: sorted({f.split(":", 1)[1] for r in rows if r["fibre_type"] == t for f in r["flags"].split()})
               for t in types}
    counts = {t: {f: sum(1 for r in rows if r["fibre_type"] == t and r["cuff_angle_deg"] == 0.0
                         and any(g.endswith(":" + f) for g in r["flags"].split())) for f in flagged[t]}
              for t in types}
    return {"clinical": clinical, "levels": levels, "windows": windows, "trains": trains, "curve_mA": CURVE_MA.tolist(),
            "curves": curves, "nerves": n_nerves, "flagged_fibres": counts,
            "fibres": {t: len(_thr(rows, 0, 0.0, t, study["pulse"]["widths_ms"][0])) for t in types}}


def _pct(s: dict) -> str:
    if s["mean"] is None:
        return "–"
    return f"{100 * s['mean']:.0f} % ({100 * s['min']:.0f}-{100 * s['max']:.0f})"


def _ma(x) -> str:
    return "> max" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def _range(s: dict) -> str:
    if s["max"] is None or all(v is None for v in s["per_nerve"]):
        return "> max"
    return f"{_ma(s['mean'])} ({_ma(s['min'])}-{_ma(s['max'])})"


def markdown(study: dict, summary: dict) -> str:
    """The README tables: fractions at the clinical settings and the therapeutic windows."""
    types = [f["type"] for f in study["fibre"]]
    win = study["window"]
    out = [f"Fibres activated at the clinical settings: mean over {summary['nerves']} random nerves (min-max); "
           "'whole nerve' weights each type by its share of all fibres.", "",
           "| protocol | pulse | current | " + " | ".join(types) + " | whole nerve |",
           "|---|---|---|" + "---|" * (len(types) + 1)]
    for c in summary["clinical"]:
        out.append(f"| {c['protocol']} | {c['width_ms'] * 1e3:.0f} us | {c['current_mA']:g} mA | "
                   + " | ".join(_pct(c[t]) for t in types + ["whole nerve"]) + " |")
    out += ["", "Current (mA) recruiting 10 / 50 / 95 % of each type: mean (min-max) over the nerves; '> max': "
                "not reached below the largest current searched.", "",
            "| type | " + " | ".join(f"{w * 1e3:.0f} us" for w in study["pulse"]["widths_ms"]) + " |",
            "|---|" + "---|" * len(study["pulse"]["widths_ms"])]
    for t in types:
        cells = []
        for w in study["pulse"]["widths_ms"]:
            cells.append(" / ".join(_range(v["current_mA"]) for v in summary["levels"]
                                    if v["fibre_type"] == t and v["width_ms"] == w))
        out.append(f"| {t} | " + " | ".join(cells) + " |")
    out += ["", f"Therapeutic window: the current recruiting {100 * win['intended_fraction']:.0f} % of the "
                f"{win['intended']} fibres against the one recruiting {100 * win['side_fraction']:.0f} % of the "
                f"{win['side']} fibres (ratio > 1: a window exists); mean (min-max) over the nerves, cuff at 0 deg.",
            "", f"| pulse | {win['intended']} {100 * win['intended_fraction']:.0f} % (mA) | {win['side']} "
                f"{100 * win['side_fraction']:.0f} % (mA) | ratio |", "|---|---|---|---|"]
    for w in summary["windows"]:
        if "nerve" not in w:
            out.append(f"| {w['width_ms'] * 1e3:.0f} us | " + " | ".join(_range(w[k]) for k in (
                "intended_mA", "side_mA", "ratio")) + " |")
    out += ["", "Cuff rotation, nerve 0: window ratio by cuff angle.", "",
            "| cuff angle | " + " | ".join(f"{w * 1e3:.0f} us" for w in study["pulse"]["widths_ms"]) + " |",
            "|---|" + "---|" * len(study["pulse"]["widths_ms"])]
    for a in [0.0] + list(study["run"]["rotations_deg"]):
        out.append(f"| {a:g} deg | " + " | ".join(_ma(w["ratio"]) for w in summary["windows"]
                                                  if w.get("nerve") == 0 and w["cuff_angle_deg"] == a) + " |")
    fields = summary["fields"]
    elements = [f["elements"] for f in fields]
    out += ["", f"Fields: {len(fields)} finite-element models, {min(elements)}-{max(elements)} elements (worst "
                f"quality {min(f['min_quality'] for f in fields)}), "
                f"meshing and solving {sum(f['mesh_s'] + f['solve_s'] for f in fields) / 60:.0f} min in all "
                f"(2 cores; cached afterwards). Thresholds, when first computed: " + ", ".join(
                    f"{t} {v:.0f} s" for t, v in summary["thresholds_compute_s"].items())
            + f". This run: {summary['wall_s']:.0f} s."]
    return "\n".join(out) + "\n"


def write(out: Path, study: dict, rows: list[dict], summary: dict) -> None:
    """results/fibres.csv, summary.json, summary.md and the figures."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "fibres.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else
                            f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(markdown(study, summary))
    figures(out, study, rows, summary)


def figures(out: Path, study: dict, rows: list[dict], summary: dict) -> None:
    """recruitment.png, cross_section.png, window.png and train.png."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = [f["type"] for f in study["fibre"]]
    colours = dict(zip(types, ["tab:red", "tab:blue", "tab:green", "tab:orange"]))
    widths = study["pulse"]["widths_ms"]
    mA = np.array(summary["curve_mA"])
    fig, axes = plt.subplots(1, len(widths), figsize=(5 * len(widths), 4), sharey=True)
    for ax, w in zip(axes, widths):
        ax.axvspan(0.25, 3.5, color="0.93")
        for t in types:
            c = 100 * np.array(summary["curves"][f"{t} {w * 1e3:.0f} us"])
            ax.fill_between(mA, c.min(0), c.max(0), color=colours[t], alpha=0.25, lw=0)
            ax.plot(mA, c.mean(0), color=colours[t], label=t)
        for p in study["protocol"]:
            if p["width_ms"] == w:
                for c in p["currents_mA"]:
                    ax.axvline(c, color="0.5", lw=0.6, ls=":")
        ax.set(xscale="log", xlabel="current (mA)", title=f"{w * 1e3:.0f} us per phase, biphasic",
               xlim=(mA[0], mA[-1]))
    axes[0].set_ylabel(f"fibres activated (%; mean, band: {summary['nerves']} nerves)")
    axes[0].legend(fontsize=8)
    fig.savefig(out / "recruitment.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    fascicles = summary["fields"][0]["fascicles_um"]
    settings = [(p, p["currents_mA"][min(1, len(p["currents_mA"]) - 1)]) for p in study["protocol"]]
    fig, axes = plt.subplots(1, len(settings), figsize=(5 * len(settings), 5))
    first = [r for r in rows if r["nerve"] == 0 and r["cuff_angle_deg"] == 0.0]
    for ax, (p, c) in zip(axes, settings):
        for x, y, d in fascicles:
            ax.add_patch(plt.Circle((x, y), d / 2, fill=False, color="0.5"))
        ax.add_patch(plt.Circle((0, 0), study["nerve"]["diameter_um"] / 2, fill=False, color="k"))
        for t, marker in zip(types, "^os."):
            mine = [r for r in first if r["fibre_type"] == t]
            fired = np.array([r[column(p["width_ms"])] <= c for r in mine])
            xy = np.array([(r["x_um"], r["y_um"]) for r in mine])
            ax.scatter(*xy[~fired].T, s=6, marker=marker, facecolor="none", edgecolor="0.75", lw=0.5)
            ax.scatter(*xy[fired].T, s=10, marker=marker, color=colours[t], label=f"{t}: {fired.mean():.0%}")
        ax.set(aspect="equal", xlim=(-1100, 1100), ylim=(-1100, 1100), xlabel="x (um)", ylabel="y (um)",
               title=f"{p['name']}: {c:g} mA, {p['width_ms'] * 1e3:.0f} us\n(filled: fires; nerve 0)")
        ax.legend(fontsize=7, loc="lower right")
    fig.savefig(out / "cross_section.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for n in range(summary["nerves"]):
        r = [w["ratio"]["per_nerve"][n] for w in summary["windows"] if "nerve" not in w]
        a1.plot([1e3 * w for w in widths], [np.nan if v is None else v for v in r], "o-", label=f"nerve {n}")
    angles = [0.0] + list(study["run"]["rotations_deg"])
    for w in widths:
        r = [v["ratio"] for a in angles for v in summary["windows"] if v.get("nerve") == 0
             and v["cuff_angle_deg"] == a and v["width_ms"] == w]
        a2.plot(angles, r, "o-", label=f"{w * 1e3:.0f} us")
    win = study["window"]
    for a in (a1, a2):
        a.axhline(1, color="k", lw=0.7)
        a.set_ylabel(f"{win['side']} {100 * win['side_fraction']:.0f} % / {win['intended']} "
                     f"{100 * win['intended_fraction']:.0f} % current")
        a.legend(fontsize=8)
    a1.set(xlabel="pulse width per phase (us)", title="therapeutic window by pulse width")
    a2.set(xlabel="cuff angle (deg)", title="nerve 0: by cuff rotation")
    fig.savefig(out / "window.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    trains = summary["trains"]
    if trains:
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(trains) + 1.2))
        counts = np.array([t["aps_per_pulse"] for t in trains])
        ax.imshow(counts, aspect="auto", cmap="Greys", vmin=0, vmax=max(1, counts.max()))
        ax.set_yticks(range(len(trains)), [f"{t['current_over_threshold']:.2f} x thr. ({t['fibre_type']}, "
                                           f"{t['diameter_um']:.1f} um)" for t in trains], fontsize=7)
        ax.set(xlabel="pulse of the train", title="stroke train (0.8 mA, 100 us, 30 Hz): APs per pulse (black: "
                                                   "fired)\nby current / single-pulse threshold, nerve 0")
        ax.set_xticks(range(counts.shape[1]), [str(k + 1) for k in range(counts.shape[1])], fontsize=7)
        fig.savefig(out / "train.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
