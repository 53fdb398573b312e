"""Thresholds of many fibres at once, in parallel worker processes.

Each worker runs whole threshold searches with Numba limited to one thread, so a population
uses every core without nested parallelism, and each result is identical to what
`nervesim.threshold.find_threshold` gives for the same job in a single process.
"""
from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from .extracellular import Electrode, FilePotentials
from .fibre import build_fibre
from .simulation import DEFAULT_DT_MS
from .threshold import ThresholdResult, ThresholdSearchError, find_threshold
from .waveform import Waveform


@dataclass(frozen=True, eq=False)
class ThresholdJob:
    """Everything one threshold needs (units as in `find_threshold`)."""

    model: str
    diameter_um: float
    electrode: Electrode | FilePotentials | np.ndarray  # an array: potentials per section for 1 mA
    waveform: Waveform
    n_nodes: int = 51
    dt_ms: float = DEFAULT_DT_MS
    tstop_ms: float | None = None
    tolerance: float = 1e-3
    temperature_c: float | None = None
    max_mA: float = 1e3


@dataclass(frozen=True)
class JobOutcome:
    """A job's result, or the error that stopped it (``result`` is then None)."""

    job: ThresholdJob
    result: ThresholdResult | None
    error: str | None = None


def run_job(job: ThresholdJob) -> JobOutcome:
    """Run one job; bad input or an unbracketed search becomes an error outcome, not an exception."""
    try:
        fibre = build_fibre(job.model, job.diameter_um, job.n_nodes, temperature_c=job.temperature_c)
        res = find_threshold(fibre, job.electrode, job.waveform, dt_ms=job.dt_ms, tstop_ms=job.tstop_ms,
                             tolerance=job.tolerance, max_mA=job.max_mA)
        return JobOutcome(job, res)
    except (ValueError, ThresholdSearchError) as exc:
        return JobOutcome(job, None, f"{type(exc).__name__}: {exc}")


def _init_worker() -> None:
    import numba
    numba.set_num_threads(1)


def _indexed(item: tuple[int, ThresholdJob]) -> tuple[int, JobOutcome]:
    return item[0], run_job(item[1])


def iter_thresholds(jobs: Iterable[ThresholdJob], processes: int | None = None) -> Iterator[tuple[int, JobOutcome]]:
    """Yield (index, outcome) for each job as soon as it is done (completion order)."""
    items = list(enumerate(jobs))
    procs = min(processes or os.cpu_count() or 1, max(len(items), 1))
    if procs == 1:
        yield from map(_indexed, items)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(procs, initializer=_init_worker) as pool:
        yield from pool.imap_unordered(_indexed, items, chunksize=max(1, min(16, len(items) // (8 * procs))))


def find_thresholds(jobs: Iterable[ThresholdJob], processes: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> list[JobOutcome]:
    """Outcomes of all ``jobs`` in their order, computed on ``processes`` workers (default: every core)."""
    jobs = list(jobs)
    out: list[JobOutcome | None] = [None] * len(jobs)
    for done, (i, outcome) in enumerate(iter_thresholds(jobs, processes), 1):
        out[i] = outcome
        if progress:
            progress(done, len(jobs))
    return out  # type: ignore[return-value]
