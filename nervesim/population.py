"""Thresholds of many fibres at once, one search per thread on every core.

The Numba kernels release the GIL, so threads run searches truly in parallel with no process
start-up, pickling or ``if __name__ == "__main__"`` guard in user scripts. Inside a thread each
search runs its probes one after another (``parallel=False``), which gives exactly the result of
`nervesim.threshold.find_threshold` for the same job.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from .extracellular import Electrode, FilePotentials
from .fibre import build_fibre
from .simulation import DEFAULT_DT_MS, Stimulation
from .threshold import ThresholdResult, ThresholdSearchError, search_threshold
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
        stim = Stimulation(fibre, job.electrode, job.waveform, dt_ms=job.dt_ms, tstop_ms=job.tstop_ms,
                           parallel=False)
        return JobOutcome(job, search_threshold(stim, tolerance=job.tolerance, max_mA=job.max_mA))
    except (ValueError, ThresholdSearchError) as exc:
        return JobOutcome(job, None, f"{type(exc).__name__}: {exc}")


def iter_thresholds(jobs: Iterable[ThresholdJob], threads: int | None = None) -> Iterator[tuple[int, JobOutcome]]:
    """Yield (index, outcome) for each job as soon as it is done (completion order)."""
    items = list(enumerate(jobs))
    n = min(threads or os.cpu_count() or 1, max(len(items), 1))
    if n == 1:
        for i, job in items:
            yield i, run_job(job)
        return
    with ThreadPoolExecutor(n) as pool:
        futures = {pool.submit(run_job, job): i for i, job in items}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


def find_thresholds(jobs: Iterable[ThresholdJob], threads: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> list[JobOutcome]:
    """Outcomes of all ``jobs`` in their order, computed on ``threads`` threads (default: every core)."""
    jobs = list(jobs)
    out: list[JobOutcome | None] = [None] * len(jobs)
    for done, (i, outcome) in enumerate(iter_thresholds(jobs, threads), 1):
        out[i] = outcome
        if progress:
            progress(done, len(jobs))
    return out  # type: ignore[return-value]
