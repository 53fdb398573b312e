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
from .threshold import ThresholdResult, ThresholdSearchError, check_search_args, search_threshold
from .waveform import Waveform


@dataclass(frozen=True, eq=False)
class ThresholdJob:
    """Everything one threshold search needs (as `nervesim.find_threshold` takes it).

    Parameters
    ----------
    model : str
        Fibre model name (`nervesim.available_models`).
    diameter_um : float
        Fibre diameter (µm).
    electrode : Electrode, FilePotentials or array
        The stimulating electrode, or the potentials (mV per mA) at each section centre.
    waveform : Waveform
        Unit-amplitude waveform; its sign is the polarity (cathodic = negative source current).
    n_nodes : int or None
        Nodes of Ranvier (sections of unmyelinated fibres); None: the model's default.
    dt_ms, tstop_ms : float
        Time step and run length (ms; None: `nervesim.simulation.default_tstop_ms`).
    tolerance : float
        Relative width of the final bracket, in (0, 1).
    temperature_c : float or None
        Temperature (°C; None: the model's).
    max_mA : float
        Largest amplitude tried (mA).

    Raises
    ------
    ParameterError
        (``tolerance``, ``max_mA``) when the search settings cannot work; everything else is
        checked by `prepare`.
    """

    model: str
    diameter_um: float
    electrode: Electrode | FilePotentials | np.ndarray
    waveform: Waveform
    n_nodes: int | None = None
    dt_ms: float = DEFAULT_DT_MS
    tstop_ms: float | None = None
    tolerance: float = 1e-3
    temperature_c: float | None = None
    max_mA: float = 1e3

    def __post_init__(self) -> None:
        # The limits of `search_threshold`, checked when the job is made rather than when it runs.
        check_search_args(self.tolerance, max_mA=self.max_mA)


@dataclass(frozen=True)
class JobOutcome:
    """A job's result, or the error that stopped it.

    Attributes
    ----------
    job : ThresholdJob
        The job.
    result : ThresholdResult or None
        None when the search failed.
    error : str or None
        ``"ExceptionName: message"`` when the search failed.
    """

    job: ThresholdJob
    result: ThresholdResult | None
    error: str | None = None


def prepare(job: ThresholdJob) -> Stimulation:
    """The job's fibre, potentials and waveform on its time grid, ready to search (no simulation yet).

    Parameters
    ----------
    job : ThresholdJob
        The job.

    Returns
    -------
    Stimulation
        Runs its probes one after another (``parallel=False``).

    Raises
    ------
    ParameterError
        For any bad input of the job (model, diameter, nodes, dt, waveform off the time grid,
        electrode inside the fibre, fibre outside a cuff's nerve, ...).
    """
    fibre = build_fibre(job.model, job.diameter_um, job.n_nodes, temperature_c=job.temperature_c)
    return Stimulation(fibre, job.electrode, job.waveform, dt_ms=job.dt_ms, tstop_ms=job.tstop_ms, parallel=False)


def _search(job: ThresholdJob, stim: Stimulation) -> JobOutcome:
    try:
        return JobOutcome(job, search_threshold(stim, tolerance=job.tolerance, max_mA=job.max_mA))
    except ThresholdSearchError as exc:
        return JobOutcome(job, None, f"{type(exc).__name__}: {exc}")


def iter_thresholds(jobs: Iterable[ThresholdJob], threads: int | None = None) -> Iterator[tuple[int, JobOutcome]]:
    """Yield (index, outcome) for each job as soon as it is done (completion order).

    Bad input raises `ParameterError` instead of becoming a failed outcome: the first job is
    prepared (`prepare`) before any search starts, so input shared by the jobs (model, dt, waveform,
    ...) fails at once; a later job's own bad input raises when that job is reached, and the searches
    not yet started are cancelled. A search that cannot bracket a threshold is an outcome with
    ``error`` set. Each job is prepared in its worker thread, so memory stays bounded by the
    number of threads, not of jobs.

    Parameters
    ----------
    jobs : iterable of ThresholdJob
        The jobs.
    threads : int or None
        Worker threads (None: every core).

    Yields
    ------
    index : int
        The job's position in ``jobs``.
    outcome : JobOutcome
        Its outcome.
    """
    items = list(enumerate(jobs))
    if not items:
        return
    first = prepare(items[0][1])

    def work(i: int, job: ThresholdJob) -> JobOutcome:
        return _search(job, first if i == 0 else prepare(job))

    n = min(threads or os.cpu_count() or 1, len(items))
    if n == 1:
        for i, job in items:
            yield i, work(i, job)
        return
    pool = ThreadPoolExecutor(n)
    try:
        futures = {pool.submit(work, i, job): i for i, job in items}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        # After an error, an interrupt or a caller that stops early, start none of the queued searches.
        pool.shutdown(wait=True, cancel_futures=True)


def find_thresholds(jobs: Iterable[ThresholdJob], threads: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> list[JobOutcome]:
    """Outcomes of all ``jobs`` in their order, computed on ``threads`` threads (default: every core).

    Parameters
    ----------
    jobs : iterable of ThresholdJob
        The jobs.
    threads : int or None
        Worker threads (None: every core).
    progress : callable or None
        Called as ``progress(done, total)`` after each job.

    Returns
    -------
    list of JobOutcome
        One per job, in the jobs' order.

    Raises
    ------
    ParameterError
        For bad input (see `iter_thresholds`: input shared by the jobs before any search runs).
    """
    jobs = list(jobs)
    out: list[JobOutcome | None] = [None] * len(jobs)
    for done, (i, outcome) in enumerate(iter_thresholds(jobs, threads), 1):
        out[i] = outcome
        if progress:
            progress(done, len(jobs))
    return out  # type: ignore[return-value]
