"""Parameter sweeps that never lose work: a TOML spec, a SQLite results store, resume.

A spec names fibre, electrode, waveform and run parameters; every list-valued parameter is an
axis of the grid (``electrode.sigma_xyz`` takes a list of three, so a list of such lists is an
axis). Explicit extra points may be given as ``[[point]]`` tables of dotted keys. Each point is
identified by a hash of its full parameter set; the store keeps one row per finished point,
committed as it finishes, so rerunning the same (or an extended) spec runs only what is missing.
Only the process that owns the store writes to it; workers (local processes or Dask) send
results back. Units as in the rest of nervesim (µm, ms, mA, S/m).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import sqlite3
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from . import __version__

#: Every parameter a point can set, with its default (None: required or unused).
DEFAULTS: dict[str, Any] = {
    "fibre.model": None, "fibre.diameter_um": None, "fibre.n_nodes": 51, "fibre.temperature_c": None,
    "electrode.kind": "point", "electrode.x_um": None, "electrode.y_um": 0.0, "electrode.z_um": None,
    "electrode.sigma_S_m": None, "electrode.sigma_xyz": None, "electrode.medium": None, "electrode.cuff": None,
    "electrode.nerve_diameter_um": None, "electrode.file": None,
    "waveform.pulse": "mono", "waveform.width_ms": None, "waveform.gap_ms": 0.0, "waveform.polarity": "cathodic",
    "waveform.ratio": None, "waveform.frequency_hz": None, "waveform.n_pulses": None,
    "run.dt_ms": 0.001, "run.tstop_ms": None, "run.tolerance": 1e-3, "run.max_mA": 1e3,
}
TRIPLES = {"electrode.sigma_xyz"}
WORKER_ATTEMPTS = 2  # a point whose worker died this many times is recorded as failed


class SpecError(ValueError):
    """A sweep spec that cannot be expanded; the message names the key."""


@dataclass(frozen=True)
class Sweep:
    """An expanded sweep: its name, the spec text and the full parameters of every point."""

    name: str
    spec_text: str
    points: tuple[dict[str, Any], ...]

    @property
    def ids(self) -> list[str]:
        return [point_id(p) for p in self.points]


def point_id(params: dict[str, Any]) -> str:
    """Stable identity of a point: hash of its full parameter set."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:20]


def _flatten(spec: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for section in ("fibre", "electrode", "waveform", "run"):
        for key, value in spec.get(section, {}).items():
            flat[f"{section}.{key}"] = value
    return flat


def _check_keys(keys: Iterable[str], where: str) -> None:
    unknown = sorted(set(keys) - set(DEFAULTS))
    if unknown:
        raise SpecError(f"{where}: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(DEFAULTS)}")


def expand(spec: dict[str, Any], name: str = "sweep", text: str = "") -> Sweep:
    """Expand a spec (parsed TOML) into its points."""
    unknown = sorted(set(spec) - {"sweep", "fibre", "electrode", "waveform", "run", "point"})
    if unknown:
        raise SpecError(f"spec: unknown table(s) {', '.join(unknown)}")
    flat = _flatten(spec)
    _check_keys(flat, "spec")
    axes, fixed = {}, {}
    for key, value in flat.items():
        is_axis = isinstance(value, list) and (key not in TRIPLES or (value and isinstance(value[0], list)))
        if is_axis:
            if not value:
                raise SpecError(f"{key}: an empty list gives no points")
            axes[key] = value
        else:
            fixed[key] = value
    base = {**DEFAULTS, **fixed}
    points = []
    if axes or not spec.get("point"):
        keys = sorted(axes)
        for combo in itertools.product(*(axes[k] for k in keys)):
            points.append({**base, **dict(zip(keys, combo))})
    for i, extra in enumerate(spec.get("point", [])):
        _check_keys(extra, f"[[point]] {i + 1}")
        points.append({**base, **extra})
    for p in points:
        for key in ("fibre.model", "fibre.diameter_um", "waveform.width_ms"):
            if p[key] is None:
                raise SpecError(f"{key}: required (in [{key.split('.')[0]}] or every [[point]])")
    unique = list({point_id(p): p for p in points}.values())
    return Sweep(spec.get("sweep", {}).get("name", name), text, tuple(unique))


def load_spec(path: str | Path) -> Sweep:
    """Read and expand a TOML sweep spec."""
    path = Path(path)
    try:
        text = path.read_text()
        spec = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"spec {path}: {exc}") from None
    return expand(spec, path.stem, text)


# --- one point ------------------------------------------------------------------------------

def build_job(p: dict[str, Any]):
    """The `ThresholdJob` of a point's parameters."""
    from .extracellular import Electrode, FilePotentials
    from .fibre import build_fibre
    from .population import ThresholdJob
    from .waveform import Waveform

    fibre = build_fibre(p["fibre.model"], p["fibre.diameter_um"], p["fibre.n_nodes"],
                        temperature_c=p["fibre.temperature_c"])
    z = p["electrode.z_um"] if p["electrode.z_um"] is not None else fibre.node_z_um[fibre.centre_node]
    medium = next((p[k] for k in ("electrode.sigma_S_m", "electrode.sigma_xyz", "electrode.medium")
                   if p[k] is not None), None)
    kind = p["electrode.kind"]
    if kind == "point":
        if p["electrode.x_um"] is None or medium is None:
            raise ValueError("electrode.x_um and one of electrode.sigma_S_m/sigma_xyz/medium are required")
        el = Electrode.point(p["electrode.x_um"], p["electrode.y_um"], z, medium)
    elif kind == "cuff":
        el = Electrode.cuff(p["electrode.cuff"], p["electrode.nerve_diameter_um"], z, medium or "endoneurium")
        el = el.relative_to(p["electrode.x_um"] or 0.0, p["electrode.y_um"] or 0.0)
    elif kind == "file":
        el = FilePotentials.from_file(p["electrode.file"])
    else:
        raise ValueError(f"electrode.kind={kind!r}: choose point, cuff or file")
    wave = Waveform.pulse(p["waveform.pulse"], p["waveform.width_ms"], p["waveform.polarity"],
                          gap_ms=p["waveform.gap_ms"], ratio=p["waveform.ratio"])
    if p["waveform.frequency_hz"] is not None:
        wave = wave.train(p["waveform.frequency_hz"], n_pulses=p["waveform.n_pulses"] or 1)
    return ThresholdJob(p["fibre.model"], p["fibre.diameter_um"], el, wave, p["fibre.n_nodes"], p["run.dt_ms"],
                        p["run.tstop_ms"], p["run.tolerance"], p["fibre.temperature_c"], p["run.max_mA"])


def run_point(params: dict[str, Any]) -> dict[str, Any]:
    """Compute one point; errors (bad parameters, no bracket) are returned, not raised."""
    from .model import load_model
    from .population import run_job

    start = time.perf_counter()
    out: dict[str, Any] = {"status": "error", "threshold_mA": None, "sub_mA": None, "supra_mA": None,
                           "n_runs": None, "initiation_node": None, "latency_ms": None, "flags": "[]",
                           "error": None, "model_hash": None}
    try:
        out["model_hash"] = hashlib.sha256(load_model(params["fibre.model"]).source_text.encode()).hexdigest()[:16]
        outcome = run_job(build_job(params))
        if outcome.result is None:
            out["error"] = outcome.error
        else:
            r = outcome.result
            out.update(status="ok", threshold_mA=r.threshold_mA, sub_mA=r.bracket_mA[0], supra_mA=r.bracket_mA[1],
                       n_runs=r.n_runs, initiation_node=r.initiation_node, latency_ms=r.latency_ms,
                       flags=json.dumps(list(r.flags)))
    except (ValueError, OSError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["runtime_s"] = time.perf_counter() - start
    return out


# --- the store ------------------------------------------------------------------------------

COLUMNS = ("point_id", "sweep", "params", "status", "threshold_mA", "sub_mA", "supra_mA", "n_runs",
           "initiation_node", "latency_ms", "flags", "error", "runtime_s", "nervesim_version", "model_hash",
           "neuron_version", "finished_at")


class ResultStore:
    """SQLite file with one row per finished point (WAL journal: every commit survives a kill)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        cols = ", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'point_id' else ''}" for c in COLUMNS)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS results ({cols})")

    def done(self, retry_failed: bool = False) -> set[str]:
        sql = "SELECT point_id FROM results" + (" WHERE status = 'ok'" if retry_failed else "")
        return {row[0] for row in self.db.execute(sql)}

    def add(self, sweep: str, params: dict[str, Any], outcome: dict[str, Any]) -> None:
        row = {**outcome, "point_id": point_id(params), "sweep": sweep, "params": json.dumps(params, sort_keys=True),
               "nervesim_version": __version__, "neuron_version": None,
               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self.db.execute(f"INSERT OR REPLACE INTO results ({', '.join(COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(COLUMNS))})", [row.get(c) for c in COLUMNS])

    def rows(self) -> list[dict[str, Any]]:
        cur = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM results ORDER BY finished_at, point_id")
        out = []
        for values in cur:
            row = dict(zip(COLUMNS, values))
            params = json.loads(row.pop("params"))
            out.append({**{k: v for k, v in params.items()}, **row})
        return out

    def close(self) -> None:
        self.db.close()


def load_results(path: str | Path):
    """The store as a pandas DataFrame: one column per parameter (dotted names) and result field."""
    import pandas as pd

    store = ResultStore(path)
    try:
        return pd.DataFrame(store.rows())
    finally:
        store.close()


# --- running --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepSummary:
    total: int
    already_done: int
    ran: int
    failed: int
    interrupted: bool


def _init_worker() -> None:
    import signal

    import numba
    numba.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the owner's to handle


def run_sweep(sweep: Sweep, store_path: str | Path, *, processes: int | None = None, client=None,
              scheduler: str | None = None, progress: bool = True, retry_failed: bool = False,
              on_result: Callable[[dict, dict], None] | None = None) -> SweepSummary:
    """Run every point of ``sweep`` not yet in the store at ``store_path``.

    Executors: local worker processes (default, every core), or Dask when ``client`` (a
    ``distributed.Client``) or ``scheduler`` (its address) is given. Call this under
    ``if __name__ == "__main__":`` in scripts (local workers are spawned processes).
    """
    store = ResultStore(store_path)
    done = store.done(retry_failed)
    pending = [p for p in sweep.points if point_id(p) not in done]
    bar = _progress(len(sweep.points), len(sweep.points) - len(pending), progress)
    failed = 0
    interrupted = False

    def record(params, outcome):
        nonlocal failed
        store.add(sweep.name, params, outcome)
        failed += outcome["status"] != "ok"
        bar.update(1)
        if on_result:
            on_result(params, outcome)

    try:
        if client is not None or scheduler is not None:
            _run_dask(pending, record, client, scheduler)
        else:
            _run_local(pending, record, processes)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        store.close()
    ran = bar.n - (len(sweep.points) - len(pending))
    return SweepSummary(len(sweep.points), len(sweep.points) - len(pending), ran, failed, interrupted)


def _run_local(pending: list[dict], record, processes: int | None) -> None:
    attempts = {point_id(p): 0 for p in pending}
    todo = list(pending)
    workers = processes or os.cpu_count() or 1
    ctx = multiprocessing.get_context("spawn")
    while todo:
        finished = set()
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker)
        try:
            futures = {pool.submit(run_point, p): p for p in todo}
            for fut in as_completed(futures):
                p = futures[fut]
                record(p, fut.result())
                finished.add(point_id(p))
        except BrokenProcessPool:
            pass  # a worker died: every finished point is stored; retry the rest in a new pool
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # interrupted: drop queued points
            raise
        pool.shutdown(wait=True)
        retry = []
        for p in todo:
            pid = point_id(p)
            if pid in finished:
                continue
            attempts[pid] += 1
            if attempts[pid] >= WORKER_ATTEMPTS:
                record(p, {"status": "error", "error": f"worker process died {attempts[pid]} times on this point",
                           "flags": "[]"})
            else:
                retry.append(p)
        todo = retry


def _run_dask(pending: list[dict], record, client, scheduler: str | None) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed

    own = client is None
    if own:
        client = Client(scheduler)
    try:
        futures = client.map(run_point, pending, pure=False)
        params = {f.key: p for f, p in zip(futures, pending)}
        for fut in dask_completed(futures):
            record(params[fut.key], fut.result())
    finally:
        if own:
            client.close()


class _NoBar:
    def __init__(self, total, initial):
        self.n = initial

    def update(self, k):
        self.n += k

    def close(self):
        pass


def _progress(total: int, initial: int, show: bool):
    if not show:
        return _NoBar(total, initial)
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, unit="pt", file=sys.stderr, smoothing=0.1)


# --- export and plots -----------------------------------------------------------------------

def export(path: str | Path, csv_path: str | Path | None = None, parquet_path: str | Path | None = None) -> int:
    """Write the store as CSV and/or Parquet; return the number of rows."""
    df = load_results(path)
    if csv_path:
        df.to_csv(csv_path, index=False)
    if parquet_path:
        df.to_parquet(parquet_path, index=False)
    return len(df)


def plot_store(path: str | Path, x: str, out: str | Path, group: str | None = None,
               where: dict[str, Any] | None = None) -> None:
    """Threshold against parameter ``x``, one line per value of ``group`` (and of any other
    parameter that still varies after the ``where`` filters)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = load_results(path)
    df = df[df["status"] == "ok"]
    for key, value in (where or {}).items():
        if key not in df:
            raise ValueError(f"--where {key}: not a parameter of this store")
        df = df[df[key].astype(str) == str(value)]
    if x not in df or (group and group not in df):
        raise ValueError(f"{x if x not in df else group}: not a parameter of this store "
                         f"(parameters: {', '.join(c for c in df.columns if '.' in c)})")
    params = [c for c in df.columns if "." in c and c != x]
    varying = [c for c in params if df[c].astype(str).nunique() > 1]
    keys = ([group] if group else []) + [c for c in varying if c != group]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for label, sub in (df.groupby([df[k].astype(str) for k in keys]) if keys else [((), df)]):
        sub = sub.sort_values(x)
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, label if isinstance(label, tuple)
                                                                      else (label,)))
        ax.plot(sub[x], sub["threshold_mA"], "o-", ms=3, label=label or None)
    ax.set(xlabel=x, ylabel="threshold (mA)", yscale="log")
    if keys:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
