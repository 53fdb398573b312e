"""Activation-threshold search: bracket, then subdivide to a relative tolerance; activation windows.

Amplitudes are positive magnitudes in mA; the waveform carries the polarity (cathodic = negative
source current). The reported threshold is the supra-threshold bound of the final bracket (as
PyFibers reports it).

Each run has one of three outcomes: ``fired`` (an AP was counted at the detection node),
``excited`` (some node crossed −30 mV but no AP reached the detection node: block under a virtual
anode, or an AP that did not conduct) or ``silent`` (no node crossed −30 mV).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from .errors import ParameterError
from .extracellular import Electrode
from .fibre import Fibre
from .simulation import DEFAULT_DT_MS, SimulationResult, Stimulation
from .waveform import Waveform

FIRED, EXCITED, SILENT = "fired", "excited", "silent"
#: How each outcome is marked in the lists of amplitudes tried.
MARKERS = {FIRED: "+", EXCITED: "~", SILENT: "-"}

#: Amplitudes tried per round; fixed (not the core count) so results do not depend on the machine.
PROBES_PER_ROUND = 2
#: A run ending with an AP under way is repeated with twice the run length up to this many times.
MAX_EXTENSIONS = 3
#: Smallest relative tolerance. Float64 amplitudes are exact to 1e-16, but below about 1e-12 the outcome of
#: a run is decided by rounding in the solver (its membrane potentials agree with NEURON's to ~1e-9 relative),
#: not by the physics; 1e-9 keeps every subdivided amplitude distinct and well above that level.
MIN_TOLERANCE = 1e-9

# Short-fibre criterion. The threshold of a fibre whose ends still see a sizeable share of the stimulus
# depends on where the fibre was cut. Measured (mrg-interp 2, 5.7, 10, 16 um; point source over the centre
# node at 0.25-4 mm, sigma 0.2 S/m, 0.1 ms cathodic, dt 0.005 ms; thresholds to 1e-4 at 5-101 nodes against
# 151 nodes): the error grows with the potential at the end node relative to the peak, r = |Ve_end|/max|Ve|,
# and falls by a factor ~2.6 per node added at each end. score = r * exp(-0.3 * h), h = nodes from the peak
# node to that end, separates them: every case off by more than 1 % scores above exp(-4.2) (lowest: 16 um,
# 1 mm, 13 nodes, 1.09 %), no case scoring below is off by more than 0.65 %, and the README default case
# (10 um, 51 nodes, 1 mm: r = 0.036, h = 25) scores exp(-10.8).
# Unmyelinated fibres (nodes 8.333 um apart) use a decay per um instead, exp(-distance / L) with the model's
# ``[search] short_fibre_decay_um`` L. Measured on sundt 0.5, 1, 2 um (0.1 ms cathodic, 100-1000 um, 65-1057
# sections against 2113; experiments/short_fibre.py --model sundt): cases off by more than 1 % have r = 0.35-0.97
# with 271-554 um from the peak to the end, the largest errors below 1 % (0.23-0.89 %) r = 0.41-0.67 with
# 554-1104 um; L = 155 um separates them at exp(-4.2). (Scaling L with sqrt(D), as cable length constants
# scale, misses a 5 % error at 0.5 um: thin fibres are not less sensitive to their ends.)
#: Decay per node of the end's influence in `short_fibre_score` (models without ``short_fibre_decay_um``).
SHORT_FIBRE_DECAY_PER_NODE = 0.3
#: `short_fibre_score` above which the ``short_fibre`` flag is raised.
SHORT_FIBRE_SCORE = math.exp(-4.2)


class ThresholdSearchError(RuntimeError):
    """The search could not bracket a threshold; nothing is reported.

    Parameters
    ----------
    message : str
        Why, with every amplitude tried and its outcome.
    runs : sequence of (float, str)
        Every (amplitude in mA, outcome) tried, in the order run; outcome is ``fired``, ``excited``
        or ``silent`` (see the module docstring). Kept as the ``runs`` attribute.
    """

    def __init__(self, message: str, runs: Sequence[tuple[float, str]] = ()) -> None:
        super().__init__(message)
        self.runs = tuple(runs)

    def __reduce__(self):
        # Keep the runs when sent between processes (worker pools).
        return type(self), (str(self), self.runs)


class Runner(Protocol):
    """An engine the search can drive: `nervesim.Stimulation` or `nervesim.neuron.NeuronStimulation`.

    Any class with these attributes and method is a Runner; it is never instantiated itself.

    Parameters
    ----------
    *args, **kwargs
        Unused (a protocol).

    Attributes
    ----------
    fibre : Fibre
        The fibre simulated.
    ve_mV : ndarray
        Extracellular potential per section for a 1 mA source (mV).
    wave : ndarray
        Unit waveform, one sample per time step (signed; −1 = cathodic).
    """

    fibre: Fibre
    ve_mV: np.ndarray
    wave: np.ndarray

    def run_many(self, amplitudes_mA: Sequence[float], *, early_exit: bool = True) -> list[SimulationResult]:
        """Run each amplitude from rest.

        Parameters
        ----------
        amplitudes_mA : sequence of float
            Stimulus magnitudes (mA).
        early_exit : bool
            Stop each run once its outcome is decided.

        Returns
        -------
        list of SimulationResult
            In the order of ``amplitudes_mA``.
        """


@dataclass(frozen=True)
class ThresholdResult:
    """Outcome of a threshold search.

    Attributes
    ----------
    threshold_mA : float
        Supra-threshold bound of the final bracket (mA, a magnitude).
    bracket_mA : (float, float)
        (highest sub-threshold, lowest supra-threshold) amplitude of the final bracket (mA).
    n_runs : int
        Simulations run.
    initiation_node : int
        Node whose −30 mV crossing (interpolated in time) came first in the run at ``threshold_mA``.
    latency_ms : float
        That crossing time (ms from the stimulus start at t = 0).
    detection_time_ms : float
        APCount time at the detection node in that run (ms).
    flags : tuple of str
        Warnings, each a sentence starting with its name and saying what to do (empty when clean):

        - ``end_excitation``: a passive end node or its neighbour crossed −30 mV in the same time step
          as the initiation node; the threshold is that of the fibre's cut end, not of the electrode.
        - ``non_monotonic``: a lower amplitude fired while a higher one did not (e.g. block under a
          virtual anode); the threshold is the lowest bracketed one.
        - ``ap_not_detected``: some run excited a node but no AP reached the detection node.
        - ``short_fibre``: the end nodes see a share of the stimulus that measurably changes the
          threshold (see `short_fibre_score`); add nodes.
    tolerance : float
        Relative bracket width asked for.
    runs : tuple of (float, str)
        Every (amplitude in mA, outcome) in the order run; outcome ``fired``, ``excited`` or ``silent``.
    n_rounds : int
        Rounds of ``probes`` parallel runs the search took.
    """

    threshold_mA: float
    bracket_mA: tuple[float, float]
    n_runs: int
    initiation_node: int
    latency_ms: float
    detection_time_ms: float
    flags: tuple[str, ...]
    tolerance: float
    runs: tuple[tuple[float, str], ...]
    n_rounds: int

    def __repr__(self) -> str:
        names = ", ".join(f.split(":")[0] for f in self.flags) or "none"
        return (f"ThresholdResult(threshold_mA={self.threshold_mA:.6g}, bracket_mA=({self.bracket_mA[0]:.6g}, "
                f"{self.bracket_mA[1]:.6g}), initiation_node={self.initiation_node}, "
                f"latency_ms={self.latency_ms:.4g}, n_runs={self.n_runs}, flags: {names})")


def outcome(result: SimulationResult) -> str:
    """Classify one run.

    Parameters
    ----------
    result : SimulationResult
        A run.

    Returns
    -------
    str
        ``fired``, ``excited`` (a node crossed −30 mV, no AP at the detection node) or ``silent``.
    """
    if result.fired:
        return FIRED
    return EXCITED if result.ap_counts.any() else SILENT  # counts are >= 0


def describe_runs(runs: Sequence[tuple[float, str]]) -> str:
    """List amplitudes tried for a message.

    Parameters
    ----------
    runs : sequence of (float, str)
        (amplitude in mA, outcome) pairs.

    Returns
    -------
    str
        Amplitudes in increasing order, each marked + fired, ~ excited but not detected, - silent.
    """
    return ", ".join(f"{a:.4g}{MARKERS[o]}" for a, o in sorted(runs))


def round_limit(min_mA: float, max_mA: float, tolerance: float, expand: float = 2.0,
                probes: int = PROBES_PER_ROUND, span: float | None = None) -> int:
    """Most rounds `search_threshold` can take for these settings.

    The ladder climbs from the start amplitude toward ``max_mA`` and descends toward ``min_mA`` at most
    once each, ``expand**probes`` per round: ⌈log(max/min) / (probes·log expand)⌉ + 2 rounds; a ladder
    starting at the ratio ``span`` needs at most ⌈log2(log expand / log span)⌉ rounds more to grow to
    ``expand``. Each of at most two subdivision phases (looking for a firing amplitude below an
    excited-but-undetected one, then the final bracket) shrinks one interval of width ≤ max − min by
    ``probes + 1`` per round until it is below ``tolerance·min_mA``: ⌈log((max − min)/(tolerance·min)) /
    log(probes + 1)⌉ rounds each. Plus the first round.

    Parameters
    ----------
    min_mA, max_mA, tolerance, expand, probes, span
        As `search_threshold`.

    Returns
    -------
    int
        The bound (70 rounds for the defaults).
    """
    ladder = math.ceil(math.log(max_mA / min_mA) / (probes * math.log(expand))) + 2
    if span is not None and span < expand:
        ladder += math.ceil(math.log2(math.log(expand) / math.log(span)))
    split = math.ceil(math.log((max_mA - min_mA) / (tolerance * min_mA)) / math.log(probes + 1))
    return 1 + ladder + 2 * split


def check_search_args(tolerance: float, min_mA: float = 1e-6, max_mA: float = 1e3,
                      probes: int = PROBES_PER_ROUND) -> None:
    """Raise `ParameterError` (naming the argument) unless a search with these settings can run.

    Shared by every caller that accepts search settings, so that all of them refuse the same values
    before any work.

    Parameters
    ----------
    tolerance : float
        Relative bracket width, from `MIN_TOLERANCE` to below 1.
    min_mA, max_mA : float
        Amplitude range (mA), ``0 < min_mA < max_mA``.
    probes : int
        Amplitudes per round, 1 to 64.

    Raises
    ------
    ParameterError
        For the first argument out of range.
    """
    for name, value in (("min_mA", min_mA), ("max_mA", max_mA)):
        if not math.isfinite(value) or value <= 0:
            raise ParameterError(name, f"{name}={value}: must be a finite positive amplitude in mA")
    if not (math.isfinite(tolerance) and MIN_TOLERANCE <= tolerance < 1):
        raise ParameterError("tolerance", f"tolerance={tolerance:g}: must be a relative bracket width from "
                             f"{MIN_TOLERANCE:g} (finer is decided by rounding, not physics) to below 1, e.g. 0.001")
    if not min_mA < max_mA:
        raise ParameterError("max_mA", f"max_mA={max_mA:g}: must exceed min_mA={min_mA:g}")
    if not isinstance(probes, int) or not 1 <= probes <= 64:
        raise ParameterError("probes", f"probes={probes}: must be an integer from 1 to 64")


def _check_ratio(name: str, value: float) -> None:
    # Below 1.01 the ladder would need hundreds of rounds to cross the range; above 100 it skips most of it.
    if not math.isfinite(value) or not 1.01 <= value <= 100:
        raise ParameterError(name, f"{name}={value:g}: the ladder ratio must be between 1.01 and 100 (e.g. 2)")


class _Probe:
    """Runs amplitudes never tried before, keeps every outcome and counts rounds up to a limit."""

    def __init__(self, runner: Runner, limit: int | None, known: Sequence[tuple[float, str]] = ()) -> None:
        self.runner, self.limit = runner, limit
        self.outcomes: dict[float, str] = dict(known)
        self.order: list[tuple[float, str]] = []
        self.results: dict[float, SimulationResult] = {}
        self.rounds = 0
        self.extended: list[tuple[float, float]] = []  # (amplitude, tstop) of runs that needed a longer tstop

    def __call__(self, amplitudes: Sequence[float]) -> None:
        new = sorted({float(a) for a in amplitudes} - set(self.outcomes))
        if not new:
            raise AssertionError("no new amplitude to probe")  # each caller proves there is one
        if self.limit is not None and self.rounds >= self.limit:
            raise ThresholdSearchError(
                f"no bracket after {self.rounds} rounds (the limit; tried mA, + fired / ~ excited but not "
                f"detected / - silent: {describe_runs(self.order)}); raise max_rounds or the tolerance",
                self.order)
        self.rounds += 1
        for a, r in zip(new, self.runner.run_many(new, early_exit=True)):
            if r.ap_in_transit:
                r = self._extended(a, r)
            self.outcomes[a] = outcome(r)
            self.order.append((a, self.outcomes[a]))
            self.results[a] = r


    def _extended(self, amplitude_mA: float, run: SimulationResult) -> SimulationResult:
        """Rerun an amplitude whose AP was still under way at tstop with twice the run length, up to
        `MAX_EXTENSIONS` times: such a run is undecided and never counts as sub-threshold."""
        runner = self.runner
        for _ in range(MAX_EXTENSIONS):
            if not hasattr(runner, "with_tstop"):
                break
            runner = runner.with_tstop(2 * runner.tstop_ms)
            run = runner.run_many([amplitude_mA], early_exit=True)[0]
            if not run.ap_in_transit:
                self.extended.append((amplitude_mA, runner.tstop_ms))
                return run
        raise ParameterError("tstop_ms", f"tstop_ms={run.tstop_ms:g}: at {amplitude_mA:.6g} mA an AP was still under "
                                         "way when the run ended, before reaching the detection node; increase "
                                         "tstop_ms")


def _ladder_up(top: float, ratio: float, probes: int, max_mA: float) -> list[float]:
    return sorted({min(top * ratio ** (i + 1), max_mA) for i in range(probes)})


def _split(lo: float, hi: float, probes: int) -> list[float]:
    step = (hi - lo) / (probes + 1)
    return [a for a in (lo + step * (i + 1) for i in range(probes)) if lo < a < hi]


def search_threshold(runner: Runner, *, tolerance: float = 1e-3, start_mA: float | None = None,
                     min_mA: float = 1e-6, max_mA: float = 1e3, expand: float = 2.0,
                     probes: int = PROBES_PER_ROUND, max_rounds: int | None = None,
                     span: float | None = None) -> ThresholdResult:
    """Find the activation threshold with any engine that has a ``run_many(amplitudes)`` method.

    Each round runs ``probes`` new amplitudes at once (in parallel where the engine can); no amplitude
    is run twice. A geometric ladder (ratio ``expand``) from ``start_mA`` climbs while every run is
    silent and descends while nothing silent lies below the lowest excited amplitude. With ``span``
    (a warm start: ``start_mA`` is a good prediction), the first round instead spans the ratio ``span``
    around ``start_mA`` and the ladder starts at that ratio, squaring it each round up to ``expand``, so
    a narrow first bracket that does not hold widens quickly. The interval
    between the highest silent amplitude and the lowest excited one is then split into ``probes + 1``
    equal parts per round until its relative width is at most ``tolerance``. If its top only excited
    the fibre without an AP at the detection node (block above a lower activation window), the
    interval still contains any such window wider than the tolerance, so a window is found; if none
    is, excited-but-undetected amplitudes count as not firing and the search continues upward for the
    lowest firing amplitude.

    Parameters
    ----------
    runner : Runner
        `nervesim.Stimulation`, `nervesim.neuron.NeuronStimulation` or anything with their interface.
    tolerance : float
        Relative width (supra − sub)/supra of the final bracket, from `MIN_TOLERANCE` to below 1.
    start_mA : float, optional
        First amplitude (mA); default `activating_function_guess_mA`.
    min_mA, max_mA : float
        Range searched (mA, magnitudes).
    expand : float
        Ladder ratio (1.01 to 100).
    probes : int
        Amplitudes per round (1 to 64).
    max_rounds : int, optional
        Stop after this many rounds; default `round_limit` for these settings, which the search never
        exceeds.
    span : float, optional
        Ratio (above 1, at most 100) spanned by the first round's amplitudes, geometrically centred on ``start_mA``
        (with one probe: ``start_mA`` alone, the ladder then stepping by ``span``). None (default): the
        first round climbs from ``start_mA`` by ``expand``.

    Returns
    -------
    ThresholdResult
        Threshold, bracket, every run and the flags.

    Raises
    ------
    ParameterError
        For a bad argument (its ``parameter`` names it).
    ThresholdSearchError
        When no bracket exists inside [min_mA, max_mA] (the fibre fires at ``min_mA``, is excited but
        not detected at every amplitude down to ``min_mA``, or stays silent or undetected up to
        ``max_mA``) or after ``max_rounds`` rounds; the message and ``runs`` list what was tried.
    """
    check_search_args(tolerance, min_mA, max_mA, probes)
    _check_ratio("expand", expand)
    if span is not None and not (math.isfinite(span) and 1 < span <= 100):
        raise ParameterError("span", f"span={span:g}: the first round's ratio must be above 1 and at most 100 "
                             "(e.g. 1.02 around a good prediction)")
    limit = round_limit(min_mA, max_mA, tolerance, expand, probes, span) if max_rounds is None else max_rounds
    if not isinstance(limit, int) or limit < 1:
        raise ParameterError("max_rounds", f"max_rounds={max_rounds}: must be a positive integer")
    start = activating_function_guess_mA(runner) if start_mA is None else float(start_mA)
    if not math.isfinite(start) or start <= 0:
        raise ParameterError("start_mA", f"start_mA={start_mA}: must be a finite positive amplitude")
    start = min(max(start, min_mA), max_mA)

    probe = _Probe(runner, limit)
    if span is None:
        ratio = expand
        probe([min(start * expand ** i, max_mA) for i in range(probes)])
    else:
        ratio = span
        exponents = [i / (probes - 1) - 0.5 for i in range(probes)] if probes > 1 else [0.0]
        probe([min(max(start * span ** e, min_mA), max_mA) for e in exponents])
    floor: float | None = None  # set once no activation window lies below an excited-but-undetected amplitude
    while True:
        seen = probe.outcomes
        amps = sorted(seen)
        hi = next((a for a in amps if seen[a] == FIRED or (floor is None and seen[a] == EXCITED)), None)
        if hi is None:  # nothing fired (or, before the floor, nothing was excited) yet: climb
            if amps[-1] >= max_mA:
                raise _no_bracket(probe.order, min_mA, max_mA, at_top=True)
            probe(_ladder_up(amps[-1], ratio, probes, max_mA))
            ratio = min(expand, ratio * ratio)
            continue
        below = [a for a in amps if a < hi]
        if not below:  # the lowest amplitude tried already responds: descend
            if hi <= min_mA:
                raise _no_bracket(probe.order, min_mA, max_mA, at_top=False)
            probe([max(hi / ratio ** (i + 1), min_mA) for i in range(probes)])
            ratio = min(expand, ratio * ratio)
            continue
        lo = below[-1]
        if (hi - lo) / hi > tolerance:
            probe(_split(lo, hi, probes))
        elif seen[hi] == FIRED:
            return _result(probe, lo, hi, tolerance)
        else:
            floor = hi


def end_excitation_flag(run: SimulationResult) -> str:
    """The ``end_excitation`` flag sentence of a run whose `~SimulationResult.end_excitation` is true.

    Parameters
    ----------
    run : SimulationResult
        A run with end excitation.

    Returns
    -------
    str
        Which end nodes crossed with the initiation node, and the fix.
    """
    ends = [n for n in run.first_step_nodes if run.fibre.is_end_node(n)]
    return (f"end_excitation: node(s) {', '.join(map(str, ends))} (a passive end node or its neighbour) crossed "
            f"-30 mV in the same time step as the initiation node {run.initiation_node}; lengthen the fibre "
            "(more nodes) or move the electrode toward the centre")


def _no_bracket(runs: list[tuple[float, str]], min_mA: float, max_mA: float, at_top: bool) -> ThresholdSearchError:
    """Why the search stopped: it reached max_mA without a firing amplitude, or min_mA still responding."""
    if at_top:
        where = ("stays silent (no node reaches -30 mV) up to max_mA" if all(o == SILENT for _, o in runs) else
                 "does not fire up to max_mA: where a node is excited (~) the AP is blocked or not conducted "
                 "to the detection node")
    elif min(runs)[1] == FIRED:
        where = "fires even at min_mA"
    else:
        where = "is excited but the AP is not detected (blocked or not conducted) even at min_mA"
    return ThresholdSearchError(
        f"no threshold bracket in [{min_mA:g}, {max_mA:g}] mA: the fibre {where} (tried mA, + fired / "
        f"~ excited but not detected / - silent: {describe_runs(runs)}); widen the range (min_mA/max_mA) "
        "or move the electrode", runs)


def _result(probe: _Probe, sub: float, supra: float, tolerance: float) -> ThresholdResult:
    runs = probe.order
    final = probe.results[supra]
    fibre = probe.runner.fibre
    flags = []
    if final.end_excitation:
        flags.append(end_excitation_flag(final))
    fired = [a for a, o in runs if o == FIRED]
    not_fired = [a for a, o in runs if o != FIRED]
    if not_fired and max(not_fired) > min(fired):
        flags.append(f"non_monotonic: {min(fired):.6g} mA fired but {max(not_fired):.6g} mA did not "
                     "(e.g. block under a virtual anode); the threshold is the lowest bracketed one")
    for a, o in runs:
        if o == EXCITED:
            r = probe.results[a]
            nodes = np.flatnonzero(r.ap_counts > 0)
            flags.append(f"ap_not_detected: at {a:.6g} mA nodes {nodes.min()}-{nodes.max()} crossed -30 mV but "
                         f"the detection node {r.detection_node} did not by tstop; check tstop or conduction block")
            break
    if probe.extended:
        a, t = max(probe.extended, key=lambda x: x[1])
        flags.append(f"long_run: the AP at {a:.6g} mA was still under way at tstop {probe.runner.tstop_ms:g} ms; "
                     f"{len(probe.extended)} run(s) were repeated up to tstop {t:g} ms to decide them")
    score = short_fibre_score(fibre, probe.runner.ve_mV)
    if score > SHORT_FIBRE_SCORE:
        flags.append(f"short_fibre: the end nodes of this {fibre.n_nodes}-node fibre see enough of the stimulus "
                     f"(score {score:.3g} > {SHORT_FIBRE_SCORE:.3g}) to shift the threshold by about 1 % or more; "
                     "add nodes until the flag goes")
    return ThresholdResult(
        threshold_mA=supra, bracket_mA=(sub, supra), n_runs=len(runs),
        initiation_node=int(final.initiation_node), latency_ms=final.latency_ms,
        detection_time_ms=float(final.ap_times_ms[final.detection_node]), flags=tuple(flags),
        tolerance=tolerance, runs=tuple(runs), n_rounds=probe.rounds)


def short_fibre_score(fibre: Fibre, ve_mV: np.ndarray) -> float:
    """How much of the stimulus reaches the fibre's ends, as the ``short_fibre`` flag measures it.

    For each end: the magnitude of Ve at the end node over its peak over all nodes, times exp(−0.3·h)
    with h the number of nodes from the peak node to that end (for models with ``short_fibre_decay_um``:
    exp(−distance / that length)); the larger of the two. Above `SHORT_FIBRE_SCORE` the
    threshold differs from a long fibre's by about 1 % or more (measurements in the comments above
    `SHORT_FIBRE_SCORE`).

    Parameters
    ----------
    fibre : Fibre
        The fibre.
    ve_mV : ndarray
        Extracellular potential per section (any amplitude; only ratios matter).

    Returns
    -------
    float
        The score (0 for no stimulus).
    """
    ve = np.abs(np.asarray(ve_mV, dtype=float)[fibre.node_sections])
    peak = float(ve.max())
    if peak == 0:
        return 0.0
    k = int(np.argmax(ve))
    decay_um = fibre.model.short_fibre_decay_um
    if decay_um is None:
        far = (SHORT_FIBRE_DECAY_PER_NODE * k, SHORT_FIBRE_DECAY_PER_NODE * (len(ve) - 1 - k))
    else:
        z = fibre.node_z_um
        far = ((z[k] - z[0]) / decay_um, (z[-1] - z[k]) / decay_um)
    return float(max(ve[0] * math.exp(-far[0]), ve[-1] * math.exp(-far[1])) / peak)


def activating_function_guess_mA(runner: Runner) -> float:
    """A deliberately low first amplitude: the model's ``activating_guess_mV`` / peak nodal activating function.

    The activating function is the second difference of Ve over nodes at 1 mA. With 10 mV (MRG), over
    mrg-interp 2–16 µm, 0.5–2 mm and 0.1 ms pulses the true threshold lies 0.3–12× above the guess, so
    the search mostly climbs from below and avoids starting inside a block regime; unmyelinated models,
    with nodes 8.333 µm apart, use 0.1 mV (``[search]`` of their model files).

    Parameters
    ----------
    runner : Runner
        Supplies the fibre, the potentials for 1 mA and the waveform (its first phase's sign).

    Returns
    -------
    float
        Amplitude (mA); 1 mA when the waveform is zero or nothing is depolarised.
    """
    af = activating_function_mV(runner)
    peak = 0.0 if af is None else float(af.max())
    return runner.fibre.model.activating_guess_mV / peak if peak > 0 else 1.0


def activating_function_mV(runner: Runner) -> np.ndarray | None:
    """Nodal activating function for 1 mA: the second difference of Ve over the nodes, positive where the first
    phase of the waveform depolarises.

    Parameters
    ----------
    runner : Runner
        Supplies the fibre, the potentials for 1 mA and the waveform (its first phase's sign).

    Returns
    -------
    ndarray or None
        One value per interior node (mV); None when the waveform is zero.
    """
    ve = runner.ve_mV[runner.fibre.node_sections]
    wave = runner.wave[np.flatnonzero(runner.wave)]
    if wave.size == 0:
        return None
    return np.sign(wave[0]) * (ve[:-2] - 2 * ve[1:-1] + ve[2:])


def find_threshold(fibre: Fibre, electrode: Electrode | np.ndarray, waveform: Waveform, *, dt_ms: float = DEFAULT_DT_MS,
                   tstop_ms: float | None = None, tolerance: float = 1e-3, start_mA: float | None = None,
                   min_mA: float = 1e-6, max_mA: float = 1e3, probes: int = PROBES_PER_ROUND,
                   allow_large: bool = False, fast: bool = False) -> ThresholdResult:
    """Activation threshold (mA) of ``fibre`` for ``electrode`` and ``waveform`` with the Numba engine.

    Parameters
    ----------
    fibre : Fibre
        From `nervesim.build_fibre`.
    electrode : Electrode, FilePotentials or ndarray
        The source, or potentials per section for 1 mA (mV).
    waveform : Waveform
        Unit waveform; its sign is the polarity (cathodic = negative source current). Amplitudes are
        magnitudes.
    dt_ms : float
        Time step (ms, default 0.001 as ASCENT/PyFibers).
    tstop_ms : float, optional
        Run length (ms); default the waveform's end + 5 ms.
    tolerance, start_mA, min_mA, max_mA, probes
        As `search_threshold`.
    allow_large : bool
        Run even when one run would exceed the size limits of `nervesim.Stimulation`.
    fast : bool
        The fast mode of `nervesim.Stimulation` (extracellular layers held at Ve), not the exact system.

    Returns
    -------
    ThresholdResult
        Threshold, bracket, initiation node and flags (``end_excitation``, ``non_monotonic``,
        ``ap_not_detected``, ``short_fibre``).

    Raises
    ------
    ParameterError
        For bad input, before any run.
    ThresholdSearchError
        When no threshold lies in [min_mA, max_mA].
    """
    stim = Stimulation(fibre, electrode, waveform, dt_ms=dt_ms, tstop_ms=tstop_ms, allow_large=allow_large, fast=fast)
    return search_threshold(stim, tolerance=tolerance, start_mA=start_mA, min_mA=min_mA, max_mA=max_mA,
                            probes=probes)


# --- activation window -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ActivationWindow:
    """Threshold and, above it, the block window of one fibre (all amplitudes in mA, magnitudes).

    Attributes
    ----------
    threshold : ThresholdResult
        The activation threshold search.
    block_onset_mA : float or None
        Lowest amplitude found above threshold at which no AP reaches the detection node (usually the
        fibre is excited but the AP is blocked under a virtual anode; its outcome is in ``runs``).
        The upper end of ``block_bracket_mA``. None when every amplitude up to ``scanned_to_mA`` fired.
    block_bracket_mA : (float, float) or None
        (highest firing, lowest not firing) amplitude, relative width ≤ ``tolerance``.
    reexcitation_mA : float or None
        Lowest amplitude above the block onset that fires again (upper end of ``reexcitation_bracket_mA``).
        None when no amplitude up to ``scanned_to_mA`` fired again (or there is no block).
    reexcitation_bracket_mA : (float, float) or None
        (highest not firing, lowest firing) amplitude above the onset, relative width ≤ ``tolerance``.
    scanned_to_mA : float
        Highest amplitude reached by the scan (``max_mA`` unless the window closed below it).
    runs : tuple of (float, str)
        (amplitude, outcome) of the window search after the threshold search, in the order run.
    tolerance : float
        Relative bracket width asked for.
    """

    threshold: ThresholdResult
    block_onset_mA: float | None
    block_bracket_mA: tuple[float, float] | None
    reexcitation_mA: float | None
    reexcitation_bracket_mA: tuple[float, float] | None
    scanned_to_mA: float
    runs: tuple[tuple[float, str], ...]
    tolerance: float

    @property
    def threshold_mA(self) -> float:
        """The activation threshold (mA), ``threshold.threshold_mA``."""
        return self.threshold.threshold_mA


def activation_window(runner: Runner, *, tolerance: float = 1e-3, max_mA: float = 10.0, ratio: float = 1.2,
                      start_mA: float | None = None, min_mA: float = 1e-6,
                      probes: int = PROBES_PER_ROUND) -> ActivationWindow:
    """Threshold, block onset and re-excitation amplitude of one fibre, each bracketed to ``tolerance``.

    First `search_threshold`. Then a geometric ladder (ratio ``ratio``) climbs from the threshold until
    an amplitude does not fire; the interval between it and the highest firing amplitude below is split
    to ``tolerance`` (the block onset). From the onset the ladder climbs again until an amplitude fires,
    and that interval is split likewise (re-excitation). A block window narrower than one ladder step
    (``ratio``) can be stepped over; every reported value is the end of a bracket whose two runs were
    made, never an unbracketed guess.

    Parameters
    ----------
    runner : Runner
        `nervesim.Stimulation`, `nervesim.neuron.NeuronStimulation` or anything with their interface.
    tolerance : float
        Relative width of each bracket (`MIN_TOLERANCE` to below 1).
    max_mA : float
        Highest amplitude of the threshold search and of the window scan (mA).
    ratio : float
        Ladder ratio of the scan above threshold (1.01 to 100); smaller finds narrower windows.
    start_mA, min_mA, probes
        As `search_threshold`.

    Returns
    -------
    ActivationWindow
        ``block_onset_mA``/``reexcitation_mA`` are None when not reached up to ``max_mA``.

    Raises
    ------
    ParameterError
        For a bad argument.
    ThresholdSearchError
        When the threshold search finds no bracket.
    """
    check_search_args(tolerance, min_mA, max_mA, probes)
    _check_ratio("ratio", ratio)
    thr = search_threshold(runner, tolerance=tolerance, start_mA=start_mA, min_mA=min_mA, max_mA=max_mA,
                           probes=probes)
    probe = _Probe(runner, None, known=thr.runs)
    onset = _lowest_above(probe, thr.threshold_mA, lambda o: o != FIRED, max_mA, ratio, tolerance, probes)
    reexc = None
    if onset is not None:
        reexc = _lowest_above(probe, onset[1], lambda o: o == FIRED, max_mA, ratio, tolerance, probes)
    return ActivationWindow(
        threshold=thr, block_onset_mA=onset[1] if onset else None, block_bracket_mA=onset,
        reexcitation_mA=reexc[1] if reexc else None, reexcitation_bracket_mA=reexc,
        scanned_to_mA=max(probe.outcomes), runs=tuple(probe.order), tolerance=tolerance)


def _lowest_above(probe: _Probe, start: float, wanted: Callable[[str], bool], max_mA: float, ratio: float,
                  tolerance: float, probes: int) -> tuple[float, float] | None:
    """Bracket (highest amplitude ≥ ``start`` below it, it) of the lowest amplitude above ``start`` whose
    outcome is ``wanted``, to ``tolerance``; None if none up to ``max_mA``. ``start`` was run."""
    while True:
        above = sorted(a for a in probe.outcomes if a > start)
        hi = next((a for a in above if wanted(probe.outcomes[a])), None)
        if hi is None:
            top = above[-1] if above else start
            if top >= max_mA:
                return None
            probe(_ladder_up(top, ratio, probes, max_mA))
            continue
        lo = max([start] + [a for a in above if a < hi])
        if (hi - lo) / hi <= tolerance:
            return lo, hi
        probe(_split(lo, hi, probes))
