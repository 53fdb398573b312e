"""Thresholds of many fibres at once, one search per thread on every core.

The Numba kernels release the GIL, so threads run searches truly in parallel with no process
start-up, pickling or ``if __name__ == "__main__"`` guard in user scripts. Inside a thread each
search runs its probes one after another (``parallel=False``).

Warm starts (the default): a fibre's search starts from a threshold predicted from the fibres
already done, a narrow first bracket that widens if it does not hold (`search_threshold`'s
``span``), one amplitude per round since the runs of a thread are serial anyway. Every threshold
is still the end of a bracket of the job's tolerance, so it differs from a cold search's by less
than that tolerance. 1000 MRG fibres (2-16 µm, 0.2-3 mm) need 3.2 runs per fibre instead of 16. The prediction
for job i uses exactly the jobs before `known_before` (i), whichever thread ran them, so the
results do not depend on the number of threads or their timing. With ``warm_start=False`` each
search is that of `nervesim.threshold.find_threshold` for the same job, run for run.
"""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .extracellular import Electrode, FilePotentials
from .fibre import build_fibre
from .simulation import DEFAULT_DT_MS, Stimulation
from .threshold import (
    ThresholdResult,
    ThresholdSearchError,
    activating_function_guess_mA,
    activating_function_mV,
    check_search_args,
    search_threshold,
)
from .waveform import Waveform

#: Finished fibres nearest in `WarmStarts.features` to which the prediction fits a quadratic.
NEIGHBOURS = 20
#: Fewest neighbours for a quadratic fit (10 coefficients in three features); below, a plane.
QUADRATIC_FROM = 16
LOG2 = math.log(2)
#: Job i predicts from every job before max(i // 2, i - WARM_LAG): jobs that have almost always finished by
#: the time job i starts on up to WARM_LAG threads, so a thread rarely waits for them.
WARM_LAG = 32


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
    fast : bool
        The fast mode of `nervesim.Stimulation` (extracellular layers held at Ve), not the exact system.

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
    fast: bool = False

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
    return Stimulation(fibre, job.electrode, job.waveform, dt_ms=job.dt_ms, tstop_ms=job.tstop_ms, parallel=False,
                       fast=job.fast)


def known_before(i: int) -> int:
    """How many leading jobs job ``i``'s warm start predicts from: max(i // 2, i − `WARM_LAG`).

    Parameters
    ----------
    i : int
        The job's position in the list.

    Returns
    -------
    int
        Jobs 0 to this number − 1 (all finished before job ``i``'s search starts).
    """
    return max(i // 2, i - WARM_LAG)


class WarmStarts:
    """Predicted thresholds from the finished searches of similar fibres (shared by the worker threads).

    Fibres are similar when they share model, waveform, nodes, dt, tstop and temperature. For those,
    log(threshold / activating-function guess) is a smooth function of three features: log diameter;
    log(peak-to-peak nodal Ve × guess), which measures how broad the potential is along the fibre relative
    to its node spacing (how far the source is); and how far the activating function's peak lies from the
    nearest node (the node phase, 0 to 0.5 node spacings). The prediction fits a quadratic in these features
    to the `NEIGHBOURS` nearest finished fibres, weighted by inverse distance (a plane to fewer than
    `QUADRATIC_FROM`, the nearest alone to fewer than four). Runs per fibre of the search from it (one
    tolerance around the prediction, 0.1 %): mrg-interp 2-16 µm at 0.2-3 mm over the centre node, 51 nodes,
    0.1 ms: 3.2 for 1000 fibres, 5.6 for their first 200; 300 fibres 2-12 µm in a 2 mm nerve with random node
    phases in a LivaNova cuff, 0.25 ms biphasic: 9.3 (cold searches: 16).

    Parameters
    ----------
    jobs : sequence of ThresholdJob
        The jobs, in the order their positions refer to.
    """

    def __init__(self, jobs: Sequence[ThresholdJob]) -> None:
        groups: dict[tuple, int] = {}
        self.group = np.array([groups.setdefault(_similar(job), len(groups)) for job in jobs], dtype=np.int64)
        self.x = np.full((len(jobs), 3), np.nan)
        self.y = np.full(len(jobs), np.nan)
        self.done = np.zeros(len(jobs), dtype=bool)
        self.prefix = 0  # jobs 0 .. prefix - 1 have all finished
        self.changed = threading.Condition()

    @staticmethod
    def features(job: ThresholdJob, stim: Stimulation) -> tuple[float, np.ndarray]:
        """The activating-function guess and the features of a prepared job (see the class docstring).

        Parameters
        ----------
        job : ThresholdJob
            The job.
        stim : Stimulation
            Its prepared stimulation.

        Returns
        -------
        tuple
            (guess in mA, feature vector of three).
        """
        guess = activating_function_guess_mA(stim)
        ptp = float(np.ptp(stim.ve_mV[stim.fibre.node_sections]))
        width = math.log(ptp * guess) if ptp > 0 else math.nan
        return guess, np.array([math.log(job.diameter_um), width, _peak_offset(activating_function_mV(stim))])

    def start(self, i: int, x: np.ndarray) -> float | None:
        """Predicted threshold / guess of job ``i`` from the jobs before `known_before` (i), waiting for them.

        Parameters
        ----------
        i : int
            The job's position.
        x : ndarray
            Its features (`features`).

        Returns
        -------
        float or None
            The predicted ratio; None when no similar fibre has a threshold.
        """
        n = known_before(i)
        with self.changed:
            self.changed.wait_for(lambda: self.prefix >= n)
        known = np.flatnonzero((self.group[:n] == self.group[i]) & np.isfinite(self.y[:n]))
        if known.size == 0 or not np.all(np.isfinite(x)):
            return None
        dist = np.sqrt(((self.x[known] - x) ** 2).sum(axis=1))
        near = np.argsort(dist, kind="stable")[:NEIGHBOURS]
        if near.size <= x.size:  # too few for a plane
            return math.exp(self.y[known[near[0]]])
        z = self.x[known[near]] - x
        terms = [np.ones(near.size), *z.T]
        if near.size >= QUADRATIC_FROM:
            terms += [z[:, a] * z[:, b] for a in range(z.shape[1]) for b in range(a, z.shape[1])]
        w = 1.0 / (dist[near] + 1e-3)  # inverse distance; the offset keeps an exact repeat finite
        fit = np.linalg.lstsq(np.column_stack(terms) * w[:, None], self.y[known[near]] * w, rcond=None)[0]
        # A quadratic extrapolated far from its fibres can run away: keep within a factor 2 of theirs.
        return math.exp(np.clip(fit[0], self.y[known[near]].min() - LOG2, self.y[known[near]].max() + LOG2))

    def record(self, i: int, x: np.ndarray, guess: float, result: ThresholdResult | None) -> None:
        """Keep job ``i``'s features and threshold (the bracket's geometric centre), if it has one.

        Parameters
        ----------
        i : int
            The job's position.
        x : ndarray
            Its features.
        guess : float
            Its activating-function guess (mA).
        result : ThresholdResult or None
            Its search's result (None: failed).
        """
        if result is not None:
            self.x[i] = x
            self.y[i] = math.log(math.sqrt(result.bracket_mA[0] * result.bracket_mA[1]) / guess)

    def finish(self, i: int) -> None:
        """Mark job ``i`` finished (with or without a threshold), waking the jobs waiting for it.

        Parameters
        ----------
        i : int
            The job's position.
        """
        with self.changed:
            self.done[i] = True
            while self.prefix < self.done.size and self.done[self.prefix]:
                self.prefix += 1
            self.changed.notify_all()


def _peak_offset(af: np.ndarray | None) -> float:
    """Distance (in node spacings, 0 to 0.5) from the activating function's peak to the nearest node: the
    vertex of the parabola through the highest node and its neighbours (0.5 when the peak is at an end)."""
    k = -1 if af is None else int(np.argmax(af))
    if not 0 < k < af.size - 1 or af[k - 1] - 2 * af[k] + af[k + 1] >= 0:
        return 0.5
    return min(0.5, abs(0.5 * (af[k - 1] - af[k + 1]) / (af[k - 1] - 2 * af[k] + af[k + 1])))


def _similar(job: ThresholdJob) -> tuple:
    """What must be equal for two jobs' thresholds to be predicted from one another."""
    return job.model, job.waveform.phases, job.n_nodes, job.dt_ms, job.tstop_ms, job.temperature_c, job.fast


def _search(job: ThresholdJob, stim: Stimulation, **settings) -> JobOutcome:
    try:
        return JobOutcome(job, search_threshold(stim, tolerance=job.tolerance, max_mA=job.max_mA, **settings))
    except ThresholdSearchError as exc:
        return JobOutcome(job, None, f"{type(exc).__name__}: {exc}")


def _warm_search(i: int, job: ThresholdJob, stim: Stimulation, warm: WarmStarts) -> JobOutcome:
    guess, x = warm.features(job, stim)
    ratio = warm.start(i, x)
    if ratio is None:  # nothing similar known yet: the cold search, one amplitude per round
        outcome = _search(job, stim, probes=1)
    else:
        # A first bracket of one tolerance around the prediction: when the prediction is that good the
        # second run completes the bracket; otherwise the ladder doubles its step each run.
        outcome = _search(job, stim, probes=1, start_mA=guess * ratio, span=1 + job.tolerance)
    warm.record(i, x, guess, outcome.result)
    return outcome


def iter_thresholds(jobs: Iterable[ThresholdJob], threads: int | None = None,
                    warm_start: bool = True) -> Iterator[tuple[int, JobOutcome]]:
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
    warm_start : bool
        Start each search from a threshold predicted from the jobs before it (see the module
        docstring); False: each search as `nervesim.threshold.find_threshold` runs it.

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
    warm = WarmStarts([job for _, job in items]) if warm_start else None

    def work(i: int, job: ThresholdJob) -> JobOutcome:
        if warm is None:
            return _search(job, first if i == 0 else prepare(job))
        try:
            return _warm_search(i, job, first if i == 0 else prepare(job), warm)
        finally:
            warm.finish(i)  # also after bad input, so that no later job waits for this one

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
        # (A started job waits only for jobs before it, which the queue started earlier.)
        pool.shutdown(wait=True, cancel_futures=True)


def find_thresholds(jobs: Iterable[ThresholdJob], threads: int | None = None,
                    progress: Callable[[int, int], None] | None = None, warm_start: bool = True) -> list[JobOutcome]:
    """Outcomes of all ``jobs`` in their order, computed on ``threads`` threads (default: every core).

    Parameters
    ----------
    jobs : iterable of ThresholdJob
        The jobs.
    threads : int or None
        Worker threads (None: every core).
    progress : callable or None
        Called as ``progress(done, total)`` after each job.
    warm_start : bool
        As `iter_thresholds`.

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
    for done, (i, outcome) in enumerate(iter_thresholds(jobs, threads, warm_start), 1):
        out[i] = outcome
        if progress:
            progress(done, len(jobs))
    return out  # type: ignore[return-value]
