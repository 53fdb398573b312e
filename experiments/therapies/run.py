"""Stroke-rehabilitation and epilepsy/depression VNS on a human cervical vagus, fibre type by fibre type.

The model is data (study.toml, every number with its source or marked as an assumption): random 2 mm nerves with
7 fascicles from published morphometry, the human perineurium rule, the LivaNova helical cuff and muscle, solved as
finite-element fields; fibres of four types placed by fascicle area (A-motor: the laryngeal motor efferents whose
activation causes hoarseness; A-sensory: the intended myelinated afferents; B; C), each with its own model, fitted
to the field (`nervesim.field.Field.threshold_jobs`). For every fibre and pulse width the threshold of a
charge-balanced biphasic pulse is found; from them the recruitment per type, the fractions at the clinical
settings, the therapeutic window (intended vs laryngeal) and its change with pulse width and cuff rotation, maps of
which fibres fire, and, for fibres near threshold, the whole 30 Hz stroke train.

Writes results/ (fibres.csv, summary.json, summary.md, four figures). Each block of thresholds is stored as it
finishes under the nervesim cache (``therapies/``), keyed by everything it depends on (field, model definition,
fibres, pulse, settings), so a killed run resumes and a changed input reruns only what it changes. Fields are
cached by their spec hash. First run on 2 cores: about half an hour, most of it meshing and solving the fields;
a rerun with everything cached: seconds.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

import nervesim
from nervesim.analyses import FibrePopulation
from nervesim.cache import cache_root
from nervesim.model import definition_hash
from nervesim.population import find_thresholds, prepare

sys.path.insert(0, str(Path(__file__).parent))
from report import column, summarise, write  # noqa: E402

HERE = Path(__file__).parent
SILENT = "silent up to max_mA"  # the flag of a fibre that does not fire at the largest current searched
#: The trains' fibres: the protocol's current from this much to this much times their single-pulse threshold.
TRAIN_RATIOS = (0.95, 1.5)


def load_study(path: Path = HERE / "study.toml", c_model: str | None = None) -> dict:
    """The study's definition; ``c_model`` replaces the C fibres' model."""
    study = tomllib.loads(Path(path).read_text())
    if c_model:
        for ftype in study["fibre"]:
            if ftype["type"] == "C":
                ftype["model"] = c_model
    return study


def check_study(study: dict) -> None:
    """Refuse a study that cannot run, before any field is solved: `ValueError` naming the TOML key and the fix."""
    from nervesim.model import load_model

    def need(ok: bool, key: str, fix: str) -> None:
        if not ok:
            raise ValueError(f"{key}: {fix}")

    types = [f.get("type") for f in study.get("fibre", [])]
    need(len(types) > 0 and len(set(types)) == len(types), "fibre.type", "give each [[fibre]] a distinct type")
    for f in study["fibre"]:
        try:
            model = load_model(f["model"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"fibre.model ({f.get('type')}): {exc}") from None
        dist = f["diameter"]
        need(model.min_um <= dist["min"] <= dist["max"] <= model.max_um, f"fibre.diameter ({f['type']})",
             f"keep min <= max within {f['model']}'s {model.min_um}-{model.max_um} um")
        need(isinstance(f["sample"], int) and f["sample"] >= 1, f"fibre.sample ({f['type']})", "give a count >= 1")
    widths = study["pulse"]["widths_ms"]
    need(len(widths) > 0 and all(w > 0 for w in widths), "pulse.widths_ms", "give positive widths (ms)")
    for p in study["protocol"]:
        need(p["width_ms"] in widths, f"protocol.width_ms ({p['name']})", f"use one of pulse.widths_ms {widths}")
    need(sum("train_ms" in p for p in study["protocol"]) == 1, "protocol.train_ms",
         "give exactly one protocol a train (train_ms, frequency_hz)")
    win = study["window"]
    need(win["intended"] in types and win["side"] in types, "window", f"name fibre types among {types}")
    need(study["cuff"]["cathode"] in (1, 2), "cuff.cathode", "give 1 or 2")
    need(study["run"]["max_mA"] > 0 and 0 < study["run"]["tolerance"] < 1, "run.max_mA",
         "give max_mA > 0 and tolerance in (0, 1)")


def random_nerve(nerve: dict, seed: int) -> list[tuple[float, float, float]]:
    """Fascicles (x_um, y_um, diameter_um) of one random nerve: diameters normal, clipped to the published range,
    at random places pushed apart until they keep their gaps (`_relax`). Diameters are redrawn only when they
    cannot be packed, which is rare, so that the packing does not bias them.

    Raises
    ------
    ValueError
        When 200 draws cannot be packed (too many or too large fascicles for the nerve).
    """
    rng = np.random.default_rng([seed, 0])
    for _ in range(200):
        d = np.clip(rng.normal(nerve["fascicle_mean_um"], nerve["fascicle_sd_um"], nerve["fascicles"]),
                    nerve["fascicle_min_um"], nerve["fascicle_max_um"])
        for _ in range(20):
            xy = _relax(d, nerve, rng)
            if xy is not None:
                return [(float(x), float(y), float(di)) for (x, y), di in zip(xy, d)]
    raise ValueError(f"nerve: {nerve['fascicles']} fascicles of {nerve['fascicle_mean_um']:g} +- "
                     f"{nerve['fascicle_sd_um']:g} um do not fit a {nerve['diameter_um']:g} um nerve with their gaps; "
                     "give fewer or smaller fascicles or a larger nerve")


def _relax(d: np.ndarray, nerve: dict, rng) -> np.ndarray | None:
    """Centres for circles of diameters ``d`` inside the nerve with the study's gaps, from random starts by
    repeatedly moving every overlapping pair apart and every protruding circle inward; None if that stalls."""
    room = nerve["diameter_um"] / 2 - nerve["edge_gap_um"] - d / 2  # how far each centre may lie from the axis
    if np.any(room < 0) or np.sum(d ** 2) > (nerve["diameter_um"] - 2 * nerve["edge_gap_um"]) ** 2:
        return None  # a fascicle wider than the nerve, or more fascicle area than nerve area
    xy = room[:, None] * np.sqrt(rng.uniform(0, 1, (len(d), 1))) * _unit(rng.uniform(0, 2 * np.pi, len(d)))
    need = (d[:, None] + d[None, :]) / 2 + nerve["fascicle_gap_um"] + 1e-3  # 1 nm to spare: exact when it stops
    np.fill_diagonal(need, 0.0)
    for _ in range(2000):
        sep = xy[:, None, :] - xy[None, :, :]
        dist = np.maximum(np.hypot(sep[..., 0], sep[..., 1]), 1e-9)
        short = np.maximum(need - dist, 0.0)
        if short.max() < 1e-3 and np.all(np.hypot(xy[:, 0], xy[:, 1]) <= room):
            return xy
        xy = xy + 0.51 * np.sum((short / dist)[..., None] * sep, axis=1)  # half the overlap each, a little more
        r = np.maximum(np.hypot(xy[:, 0], xy[:, 1]), 1e-9)
        xy = xy * (1 - np.maximum(r - room, 0.0) / r)[:, None]  # back inside the nerve
    return None


def _unit(angle: np.ndarray) -> np.ndarray:
    return np.column_stack([np.cos(angle), np.sin(angle)])


def field_spec(study: dict, fascicles, angle_deg: float = 0.0):
    """The finite-element model of one nerve in its cuff, the cuff turned by ``angle_deg``."""
    from nervesim.field.spec import FieldSpec

    nerve, medium = study["nerve"], study["medium"]
    return FieldSpec.from_dict({
        "nerve": {"diameter_um": nerve["diameter_um"]},
        "fascicle": [{"x_um": x, "y_um": y, "diameter_um": d} for x, y, d in fascicles],
        "perineurium": {"thickness": nerve["perineurium"],
                        "resistivity_ohm_m": nerve["perineurium_resistivity_ohm_m"]},
        "medium": {"material": "muscle", "radius_um": medium["radius_um"], "length_um": medium["length_um"]},
        "cuff": {"preset": study["cuff"]["preset"], "angle_deg": angle_deg, "z_um": medium["length_um"] / 2},
        "mesh": study["mesh"]})


def draw_fibres(field, ftype: dict, n: int, seed: int) -> tuple[FibrePopulation, np.ndarray]:
    """``n`` fibres of one type: diameters from its clipped normal, placed by fascicle area with random node
    phases; returns the population and each fibre's fascicle."""
    dist = ftype["diameter"]
    rng = np.random.default_rng(seed)
    d = np.clip(rng.normal(dist["mean"], dist["sd"], n), dist["min"], dist["max"])
    x, y, fascicle, phase = field.places_by_area(d, seed=seed)
    return FibrePopulation(x, y, d, phase), fascicle


def _weights(study: dict) -> list[float]:
    return [1.0, -1.0] if study["cuff"]["cathode"] == 1 else [-1.0, 1.0]


def waveform(study: dict, width_ms: float) -> nervesim.Waveform:
    """The study's pulse (cathodic first) of one width per phase."""
    return nervesim.Waveform.pulse(study["pulse"]["kind"], width_ms)


def block_key(field, model: str, pop: FibrePopulation, width_ms: float, study: dict) -> str:
    """Everything a block of thresholds depends on, hashed."""
    run = study["run"]
    h = hashlib.sha256()
    for a in (pop.x_um, pop.y_um, pop.diameter_um, pop.z_offset_um):
        h.update(np.ascontiguousarray(a, float).tobytes())
    what = {"field": field.info["spec_hash"], "model": definition_hash(model), "fibres": h.hexdigest(),
            "pulse": [study["pulse"]["kind"], width_ms], "weights": _weights(study), "dt_ms": run["dt_ms"],
            "tolerance": run["tolerance"], "max_mA": run["max_mA"], "nervesim": nervesim.__version__}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def thresholds(field, model: str, pop: FibrePopulation, width_ms: float,
               study: dict) -> tuple[np.ndarray, list, float]:
    """Thresholds (mA; NaN: silent up to max_mA) and flags of every fibre of ``pop`` for one pulse width, and the
    seconds they took to compute, from the store or computed and stored."""
    store = cache_root() / "therapies"
    path = store / f"{block_key(field, model, pop, width_ms, study)}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        return np.array(saved["threshold_mA"], float), saved["flags"], saved["compute_s"]
    t0 = time.perf_counter()
    run = study["run"]
    jobs = [replace(job, tolerance=run["tolerance"], max_mA=run["max_mA"])
            for job in field.threshold_jobs(model, pop, waveform(study, width_ms), _weights(study),
                                            dt_ms=run["dt_ms"])]
    # One run at max_mA first: a fibre silent there has no threshold below it (most C fibres), and costs one run.
    with ThreadPoolExecutor() as pool:
        fires = list(pool.map(lambda job: prepare(job).run(job.max_mA, early_exit=True).fired, jobs))
    thr = np.full(len(jobs), np.nan)
    flags: list[list[str]] = [[] if f else [SILENT] for f in fires]
    todo = [i for i, f in enumerate(fires) if f]
    for i, out in zip(todo, find_thresholds([jobs[i] for i in todo])):
        if out.result is None:
            raise RuntimeError(f"{model} fibre {i} ({pop.diameter_um[i]:.2f} um): {out.error}")
        thr[i] = out.result.threshold_mA
        flags[i] = [f.split(":")[0] for f in out.result.flags]
    store.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    seconds = round(time.perf_counter() - t0, 2)
    tmp.write_text(json.dumps({"threshold_mA": [None if math.isnan(t) else t for t in thr], "flags": flags,
                               "compute_s": seconds}))
    tmp.replace(path)
    return thr, flags, seconds


def train_counts(field, model: str, pop: FibrePopulation, i: int, study: dict, protocol: dict) -> list[int]:
    """APs reaching fibre i's detection node after each pulse of the protocol's train at its current."""
    run = study["run"]
    train = waveform(study, protocol["width_ms"]).train(protocol["frequency_hz"], duration_ms=protocol["train_ms"],
                                                         onset_grid_ms=run["dt_ms"])
    one = FibrePopulation(pop.x_um[i:i + 1], pop.y_um[i:i + 1], pop.diameter_um[i:i + 1], pop.z_offset_um[i:i + 1])
    job = field.threshold_jobs(model, one, train, _weights(study), dt_ms=run["dt_ms"])[0]
    period = 1000.0 / protocol["frequency_hz"]
    fibre = nervesim.build_fibre(model, job.diameter_um, job.n_nodes)
    stim = nervesim.Stimulation(fibre, job.electrode, train, dt_ms=job.dt_ms, tstop_ms=protocol["train_ms"],
                                allow_large=True)  # a 0.5 s run is long on purpose
    det = fibre.detection_node
    res = stim.run(protocol["currents_mA"][0], record_nodes=[det])
    v = res.vm_mV[0]
    up = np.flatnonzero((v[1:] >= -30.0) & (v[:-1] < -30.0)) + 1
    n = int(round(protocol["train_ms"] / period))
    return np.bincount(np.minimum((res.t_ms[up] // period).astype(int), n - 1), minlength=n).tolist()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", type=Path, default=HERE / "study.toml", help="the study definition (TOML)")
    ap.add_argument("--nerves", type=int, help="random nerves (default: the study's)")
    ap.add_argument("--c-model", choices=["sundt", "tigerholm"], help="C-fibre model (default: the study's)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="output directory")
    args = ap.parse_args(argv)
    study = load_study(args.study, args.c_model)
    n_nerves = study["run"]["nerves"] if args.nerves is None else args.nerves
    if n_nerves < 1:
        ap.error(f"--nerves {n_nerves}: give at least 1")
    try:
        check_study(study)
        nerves = {seed: random_nerve(study["nerve"], seed) for seed in range(n_nerves)}
    except (KeyError, ValueError) as exc:
        ap.error(f"{args.study}: {exc if isinstance(exc, ValueError) else f'missing key {exc}'}")
    from nervesim.field import solve_field

    t0 = time.perf_counter()
    rows, fields, first, compute_s = [], {}, {}, {}
    widths = study["pulse"]["widths_ms"]
    window_types = {study["window"]["intended"], study["window"]["side"]}
    cases = [(s, 0.0) for s in range(n_nerves)] + [(0, a) for a in study["run"]["rotations_deg"]]
    for nerve, angle in cases:
        fascicles = nerves[nerve]
        spec = field_spec(study, fascicles, angle)
        t = time.perf_counter()
        field = solve_field(spec)
        fields[(nerve, angle)] = {"fascicles_um": fascicles, **field.info}
        print(f"nerve {nerve}, cuff {angle:g} deg: field {field.info['elements']} elements "
              f"({time.perf_counter() - t:.0f} s)", flush=True)
        for k, ftype in enumerate(study["fibre"]):
            if angle and ftype["type"] not in window_types:
                continue
            pop, fascicle = draw_fibres(field, ftype, ftype["sample"], seed=1000 * nerve + k + 1)
            thr, flags = {}, {}
            for w in widths:
                thr[w], flags[w], seconds = thresholds(field, ftype["model"], pop, w, study)
                compute_s[ftype["type"]] = compute_s.get(ftype["type"], 0.0) + seconds
                print(f"  {ftype['type']:9s} {w * 1e3:3.0f} us: {np.sum(np.isfinite(thr[w]))}/{len(pop.x_um)} "
                      f"below {study['run']['max_mA']:g} mA ({seconds:.0f} s)", flush=True)
                for j, f in enumerate(flags[w]):
                    if f and f != [SILENT]:
                        print(f"    fibre {j}: {', '.join(f)}")
            for j in range(len(pop.x_um)):
                rows.append({"nerve": nerve, "cuff_angle_deg": angle, "fibre_type": ftype["type"],
                             "model": ftype["model"], "fascicle": int(fascicle[j]), "x_um": pop.x_um[j],
                             "y_um": pop.y_um[j], "diameter_um": pop.diameter_um[j],
                             "node_phase": pop.z_offset_um[j],
                             **{column(w): thr[w][j] for w in widths},
                             "flags": " ".join(f"{w * 1e3:.0f}us:{f}" for w in widths for f in flags[w][j]
                                               if f != SILENT)})
            if nerve == 0 and angle == 0.0:
                first[ftype["type"]] = (field, ftype["model"], pop)
    trains = near_threshold_trains(study, rows, first)
    summary = summarise(study, rows, trains, n_nerves)
    summary["fields"] = [{"nerve": n, "cuff_angle_deg": a, **info} for (n, a), info in fields.items()]
    summary["thresholds_compute_s"] = {t: round(v, 1) for t, v in compute_s.items()}
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    write(args.out, study, rows, summary)
    print(f"done in {summary['wall_s']:.0f} s: {args.out}")


def near_threshold_trains(study: dict, rows: list[dict], populations: dict) -> list[dict]:
    """The stroke train for myelinated fibres of nerve 0 whose single-pulse thresholds put the protocol's current
    from `TRAIN_RATIOS` [0] to [1] times threshold (evenly spread): APs per pulse."""
    protocol = next(p for p in study["protocol"] if "train_ms" in p)
    col = column(protocol["width_ms"])
    current = protocol["currents_mA"][0]
    candidates = []
    for ftype in populations:
        mine = [r for r in rows if r["nerve"] == 0 and r["cuff_angle_deg"] == 0.0 and r["fibre_type"] == ftype]
        candidates += [(current / r[col], ftype, i, r[col]) for i, r in enumerate(mine) if np.isfinite(r[col])]
    chosen = []
    for target in np.linspace(*TRAIN_RATIOS, study["run"]["train_fibres"]):
        best = min((c for c in candidates if c not in chosen), key=lambda c: abs(c[0] - target))
        chosen.append(best)
    out = []
    for ratio, ftype, i, thr in sorted(chosen):
        field, model, pop = populations[ftype]
        t = time.perf_counter()
        counts = train_counts(field, model, pop, i, study, protocol)
        print(f"  train at {ratio:.3f} x threshold: {ftype} fibre {i} ({pop.diameter_um[i]:.2f} um, single pulse "
              f"{thr:.4f} mA): APs per pulse {''.join(str(c) for c in counts)} ({time.perf_counter() - t:.0f} s)",
              flush=True)
        out.append({"fibre_type": ftype, "index": i, "diameter_um": float(pop.diameter_um[i]),
                    "threshold_mA": thr, "current_over_threshold": ratio, "aps_per_pulse": counts})
    return out


if __name__ == "__main__":
    sys.exit(main())
