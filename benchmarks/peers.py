"""Threshold searches side by side with the real peers, on the same case in one run.

Per case, four searches of the same fibre, point source, waveform, dt and run length (tstop):

- nervesim: `nervesim.find_threshold` at 0.1 %, warm, in this process (two probes per round, on both cores);
- PyFibers 0.13's own ``find_threshold`` at its default settings (1 %, bounds 0.01-1 mA, 10 % bound steps, its
  early exit), run by `nervesim.pyfibers_ref` in a child process on PyFibers' own fibre and potentials;
- the same PyFibers search at 0.1 %;
- NEURON driven by nervesim's own search (`nervesim.threshold.search_threshold` on a
  `nervesim.neuron.NeuronStimulation`): the same algorithm, tolerance, first guess and early exit as nervesim,
  the probes of a round run one after the other in this process.
"""
from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass

import nervesim
from nervesim.pyfibers_ref import PyFibersCase, PyFibersResult, pyfibers_thresholds
from nervesim.threshold import find_threshold, search_threshold

PULSE = nervesim.Waveform.monophasic(0.1, "cathodic")
#: The same pulse in `PyFibersCase` terms: (duration_ms, level), level -1 = cathodic.
PULSE_PHASES = ((0.1, -1.0),)
SIGMA_S_M = 0.2
OUR_TOLERANCE = 1e-3
PYFIBERS_DEFAULT_TOLERANCE = 1e-2
PYFIBERS_DEFAULT_TOOL = "PyFibers find_threshold (defaults)"
FAST_TOOL = "nervesim fast=True (warm)"
#: PyFibers' exits: a run stops once the detection node has fired (PyFibers checks every 100 steps) or, after the
#: first supra-threshold run, 5 ms after that run's AP time; its search ends with a confirming run at the threshold.
PYFIBERS_RUN_RULE = "PyFibers: detection (every 100 steps) or AP time + 5 ms"
OUR_RUN_RULE = "ours: detection or decayed (every step)"
NEURON_RUN_RULE = "ours: detection or decayed (every 20 steps)"
#: The run-length rules spelled out under the table.
RUN_RULES = {
    OUR_RUN_RULE: "a run stops at the step the detection node fires, or after the pulse once every node is back "
                  "within 5 mV of rest, changing < 2 mV/ms (or falling back from a depolarisation no faster than a "
                  "0.1 ms decay) and not creeping away (nervesim's early exit)",
    NEURON_RUN_RULE: "the same exits in NEURON's fadvance loop (nervesim.neuron): detection checked every step, the "
                     "decayed-response test sampled every 20 steps, so a sub-threshold run may go up to 19 steps "
                     "longer",
    PYFIBERS_RUN_RULE: "PyFibers' own: a run stops once the detection node has fired (checked every 100 steps) or, "
                       "after the first supra-threshold run, at its AP time + 5 ms (exit_t_shift); sub-threshold "
                       "runs go to tstop otherwise; a final confirming run at the threshold",
}


@dataclass(frozen=True)
class ThresholdCase:
    """One fibre, source and time step for the threshold comparison.

    Parameters
    ----------
    name : str
        Short label used in the table and the JSON.
    model : str
        nervesim model name (one PyFibers also has).
    diameter_um : float
        Fibre diameter (um).
    n_nodes : int or None
        Nodes (sections for unmyelinated models); None for the model's default length.
    distance_um : float
        Point source distance from the fibre axis, over the centre node (um).
    dt_ms : float
        Time step (ms).
    """

    name: str
    model: str
    diameter_um: float
    n_nodes: int | None
    distance_um: float
    dt_ms: float

    def build(self):
        """The fibre and its point-source electrode (over the centre node, in 0.2 S/m)."""
        f = nervesim.build_fibre(self.model, self.diameter_um, self.n_nodes)
        return f, nervesim.Electrode.point(self.distance_um, 0.0, f.node_z_um[f.centre_node], SIGMA_S_M)

    def tstop_ms(self, fibre) -> float:
        """nervesim's default run length for this case (ms), given to every tool."""
        return nervesim.Stimulation(fibre, None, PULSE, dt_ms=self.dt_ms).tstop_ms

    def pyfibers(self, fibre, tolerance: float) -> PyFibersCase:
        """The same case for PyFibers: same model, diameter, node count, source position, pulse, dt and tstop;
        PyFibers' default bounds and early exit."""
        return PyFibersCase(model=self.model, diameter_um=self.diameter_um, n_nodes=fibre.n_nodes,
                            x_um=self.distance_um, y_um=0.0, waveform=PULSE_PHASES, dt_ms=self.dt_ms,
                            tstop_ms=self.tstop_ms(fibre), sigma_S_m=SIGMA_S_M, tolerance=tolerance)

    def describe(self, fibre) -> str:
        """One line naming everything the four searches share."""
        return (f"{self.model} {self.diameter_um:g} um, {fibre.n_nodes} nodes ({fibre.n_sections} sections, "
                f"{fibre.length_total_um / 1000:.3f} mm), point source {self.distance_um:g} um over the centre node, "
                f"{SIGMA_S_M} S/m isotropic, {PULSE.label}, dt {self.dt_ms:g} ms, tstop {self.tstop_ms(fibre):g} ms")


#: The README quick-start case at dt 0.005 ms and at the default 0.001 ms, and one C fibre.
CASES = (
    ThresholdCase("mrg dt 0.005", "mrg-interp", 10.0, 51, 1000.0, 0.005),
    ThresholdCase("mrg dt 0.001", "mrg-interp", 10.0, 51, 1000.0, 0.001),
    ThresholdCase("sundt dt 0.005", "sundt", 1.0, None, 500.0, 0.005),
)


def wall_times(fn, repeats: int) -> tuple[list[float], object]:
    """Wall time of each of ``repeats`` calls of ``fn``, and its last value."""
    times, value = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return times, value


def timed(fn, repeats: int, warm_up: bool) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls of ``fn`` (after one untimed call if ``warm_up``) and its last value."""
    if warm_up:
        fn()
    times, value = wall_times(fn, repeats)
    return statistics.median(times), value


def neuron_model(nrn, fibre, electrode, dt_ms: float, tstop_ms: float | None = None):
    """Our NEURON build of the fibre (`nervesim.neuron.NeuronStimulation` of `PULSE`), checked to be the only
    sections alive: NEURON integrates every section in existence, so a leftover model would slow every step."""
    from neuron import h

    gc.collect()
    if any(True for _ in h.allsec()):
        raise RuntimeError("NEURON sections of an earlier model are still alive; they would slow every step")
    return nrn.NeuronStimulation(fibre, electrode, PULSE, dt_ms=dt_ms, tstop_ms=tstop_ms)


def row(tool: str, tolerance: float, dt_ms: float, run_rule: str, wall_s: float, repeats: int,
        threshold_mA: float | None, runs: int, error: str | None = None) -> dict:
    """One row of the table: what was compared (tool, tolerance, dt, run-length rule) and what it gave
    (median wall time of ``repeats`` searches, threshold in mA, simulations run)."""
    return {"tool": tool, "tolerance": tolerance, "dt_ms": dt_ms, "run_rule": run_rule, "wall_s": wall_s,
            "repeats": repeats, "threshold_mA": threshold_mA, "runs": runs, "error": error}


def compare(ours: dict, peer: dict) -> dict:
    """``peer`` with its threshold's relative difference to ours and its wall time over ours."""
    thr = peer["threshold_mA"]
    diff = None if thr is None else (thr - ours["threshold_mA"]) / ours["threshold_mA"]
    return {**peer, "rel_diff": diff, "ratio": peer["wall_s"] / ours["wall_s"]}


def same_fibre(fibre, built: PyFibersResult) -> str | None:
    """None when PyFibers built the fibre we built (nodes, sections, length, source z), else what differs."""
    ours = (fibre.n_nodes, fibre.n_sections, fibre.length_total_um, float(fibre.node_z_um[fibre.centre_node]))
    theirs = (built.n_nodes, built.n_sections, built.length_um, built.centre_z_um)
    names = ("nodes", "sections", "length um", "source z um")
    bad = [f"{n} {a:g} vs PyFibers {'none' if b is None else format(b, 'g')}" for n, a, b in zip(names, ours, theirs)
           if b is None or abs(a - b) > 1e-6 * max(1.0, abs(a))]
    return "; ".join(bad) or None


def pyfibers_row(case: ThresholdCase, fibre, tolerance: float, done: list[PyFibersResult]) -> dict:
    """The table row of PyFibers' searches ``done`` at ``tolerance``: their median wall time, the last threshold,
    the first error, and whether PyFibers built a different fibre."""
    errors = [r.error for r in done if r.error]
    label = PYFIBERS_DEFAULT_TOOL if tolerance == PYFIBERS_DEFAULT_TOLERANCE else "PyFibers find_threshold"
    return {**row(label, tolerance, case.dt_ms, PYFIBERS_RUN_RULE, statistics.median(r.wall_s for r in done),
                  len(done), done[-1].threshold_mA, done[-1].n_runs, errors[0] if errors else None),
            "different_fibre": same_fibre(fibre, done[0])}


def ours_and_pyfibers(case: ThresholdCase, fibre, electrode, repeats_ours: int, repeats_pyfibers: int
                      ) -> tuple[dict, list[dict]]:
    """nervesim's warm search and PyFibers' own at its default 1 % and at 0.1 %, interleaved.

    Each PyFibers search runs in its own child process (`nervesim.pyfibers_ref`; its wall time is PyFibers' fibre
    build, potentials and ``find_threshold``, its import and NEURON's start excluded), and a block of our searches
    is timed before the first and after each, so that a change of load on a shared machine during the minutes
    PyFibers takes hits both sides of the ratio alike. Each block starts with one untimed search: the child
    process in between leaves this one's caches cold, and the row claims a warm search (without it, the blocks'
    median was about 30 % above the same search timed back to back). Our wall time is the median over all blocks.
    """
    jobs = [tol for _ in range(repeats_pyfibers) for tol in (PYFIBERS_DEFAULT_TOLERANCE, OUR_TOLERANCE)]
    per_block = -(-repeats_ours // (len(jobs) + 1))

    def search():
        return find_threshold(fibre, electrode, PULSE, dt_ms=case.dt_ms, tolerance=OUR_TOLERANCE)

    times, done = [], {tol: [] for tol in jobs}
    for tol in [None] + jobs:
        if tol is not None:
            done[tol] += pyfibers_thresholds([case.pyfibers(fibre, tol)], timeout_s=None)
        search()  # warm-up
        block, ours = wall_times(search, per_block)
        times += block
    ours_row = row("nervesim find_threshold (warm)", OUR_TOLERANCE, case.dt_ms, OUR_RUN_RULE,
                   statistics.median(times), len(times), ours.threshold_mA, ours.n_runs)
    return ours_row, [pyfibers_row(case, fibre, tol, runs) for tol, runs in done.items()]


def bench_case(case: ThresholdCase, fibre, electrode, nrn, repeats_ours: int, repeats_neuron: int) -> list[dict]:
    """nervesim's warm search in the fast mode, and the same search driving NEURON, for one case."""
    fast_t, fast = timed(lambda: find_threshold(fibre, electrode, PULSE, dt_ms=case.dt_ms, tolerance=OUR_TOLERANCE,
                                                fast=True), repeats_ours, warm_up=True)
    stim = neuron_model(nrn, fibre, electrode, case.dt_ms)
    # Built once outside the timing (nervesim's find_threshold builds its Stimulation inside); no warm-up run.
    ref_t, ref = timed(lambda: search_threshold(stim, tolerance=OUR_TOLERANCE), repeats_neuron, warm_up=False)
    return [row(FAST_TOOL, OUR_TOLERANCE, case.dt_ms, OUR_RUN_RULE, fast_t, repeats_ours, fast.threshold_mA,
                fast.n_runs),
            row(f"NEURON {nrn.neuron_version()} + nervesim search", OUR_TOLERANCE, case.dt_ms, NEURON_RUN_RULE,
                ref_t, repeats_neuron, ref.threshold_mA, ref.n_runs)]


def repeats(case: ThresholdCase, quick: bool) -> tuple[int, int, int]:
    """Searches timed for (nervesim, NEURON with our search, PyFibers per tolerance): few for the slow peers
    (a PyFibers search at dt 0.001 ms takes ~25 s)."""
    if quick:
        return 5, 1, 1
    return (7, 1, 1) if case.dt_ms < 0.005 else (21, 3, 3)


def bench_thresholds(nrn, cases=CASES, quick: bool = False) -> list[dict]:
    """Every case: nervesim, PyFibers at 1 % and at 0.1 %, NEURON with our search; rows compared with ours.

    Wall times are medians of `repeats` searches (ours: at least that many, in blocks between PyFibers' searches).
    """
    out = []
    for c in cases:
        f, el = c.build()
        n_ours, n_neuron, n_pyfibers = repeats(c, quick)
        ours, pf = ours_and_pyfibers(c, f, el, n_ours, n_pyfibers)
        fast_row, neuron_row = bench_case(c, f, el, nrn, n_ours, n_neuron)
        peers = [fast_row] + pf + [neuron_row]
        out.append({"case": c.name, "description": c.describe(f), "tstop_ms": c.tstop_ms(f), "nervesim": ours,
                    "peers": [compare(ours, p) for p in peers]})
    return out


def _pct(x: float) -> str:
    return f"{100 * x:g} %"


def threshold_table(results: list[dict]) -> list[str]:
    """The threshold comparison as text lines: per case, what all searches share, then one row per tool naming
    its tolerance, dt and run-length rule; the rules spelled out at the end."""
    head = (f"  {'tool':38} {'tol':>6} {'dt ms':>6}  {'run length rule':54} {'wall s':>8} {'n':>2} {'runs':>4} "
            f"{'threshold mA':>12} {'vs ours':>8} {'time':>8}")
    lines = ["threshold search, one fibre (wall s = median of n searches; 'vs ours' = (theirs - ours) / ours; "
             "'time' = their wall / ours)"]
    for case in results:
        lines += [f"case {case['case']}: {case['description']}", head]
        for r in [case["nervesim"]] + case["peers"]:
            thr = f"{r['threshold_mA']:12.6f}" if r["threshold_mA"] is not None else f"{'-':>12}"
            diff = f"{100 * r['rel_diff']:+7.3f}%" if r.get("rel_diff") is not None else f"{'':>8}"
            ratio = f"{r['ratio']:7.1f}x" if "ratio" in r else f"{'1x':>8}"
            lines.append(f"  {r['tool']:38} {_pct(r['tolerance']):>6} {r['dt_ms']:6g}  {r['run_rule']:54} "
                         f"{r['wall_s']:8.4f} {r['repeats']:2d} {r['runs']:4d} {thr} {diff} {ratio}")
            if r.get("error"):
                lines.append(f"    error: {r['error']}")
            if r.get("different_fibre"):
                lines.append(f"    NOT THE SAME FIBRE: {r['different_fibre']}")
    lines.append("run length: every tool runs at most the case's tstop (nervesim's default, the pulse + the model's "
                 "allowance); within it")
    lines += [f"  {name}: {text}" for name, text in RUN_RULES.items()]
    lines.append("  PyFibers builds its own fibre and point-source potentials (checked: same nodes, sections, length "
                 "and source position as ours) and runs its own mechanisms; its wall time includes that build")
    lines.append(f"  {FAST_TOOL}: nervesim's fast mode, find_threshold(..., fast=True): NEURON's extracellular "
                 "layers held at the extracellular potential (MRG's outer layer, both layers of a single cable)")
    lines.append("  nervesim runs the two probes of each round in parallel on two cores (Stimulation.run_many); NEURON "
                 "and PyFibers run one simulation at a time")
    lines.append("  nervesim's warm searches are timed in blocks before and between PyFibers' searches (each in its "
                 "own child process), so that load on the machine changing over those minutes hits both sides alike; "
                 "each block after one untimed search (the child process leaves our caches cold)")
    return lines
