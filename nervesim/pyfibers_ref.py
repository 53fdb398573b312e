"""PyFibers as an independent reference: the same fibre, point source and waveform run by PyFibers' own models,
mechanisms and `find_threshold`, for comparison with nervesim's engine.

Importing ``pyfibers`` loads its mechanisms into NEURON, which would clash with nervesim's own NEURON engine in the
same process, so every call runs PyFibers in one child process (``python -m nervesim.pyfibers_ref``, JSON on
stdin and stdout): a batch of cases loads NEURON and PyFibers once.

What is reproduced exactly as nervesim does it:

- the waveform: level n applies during step n (t_n -> t_n + dt), from `nervesim.Waveform.sample`; PyFibers
  evaluates its waveform callable at n·dt before step n, so it receives these very levels;
- the number of steps, round(tstop/dt) (PyFibers alone would run int(tstop/dt), one fewer when the division
  rounds down, e.g. 5.1/0.005);
- the sign: amplitudes are positive magnitudes and the waveform carries the polarity (cathodic = level -1 = a
  negative source current). PyFibers' default search runs negative amplitudes on a positive waveform; the product
  is the same to the bit, so the thresholds are too.

Everything else is PyFibers' own: its fibre construction, passive ends, 200 ms pre-run, APCount at -30 mV on
node int(0.9·(n_nodes-1)), point-source potentials (``Fiber.point_source_potentials``) and its search (10 %
bound steps, arithmetic bisection until (top - bottom)/top < tolerance, a confirming run at the threshold, an
error on end excitation in that run).
"""
from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import logging
import math
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from importlib import util
from pathlib import Path

from .cache import cache_root
from .errors import ParameterError
from .waveform import Waveform

#: nervesim model name -> PyFibers 0.13 ``FiberModel`` member. ``mrg-small`` is PENA (PyFibers' former
#: SMALL_MRG_INTERPOLATION, kept there only as a deprecated alias).
PYFIBERS_MODELS: dict[str, str] = {
    "mrg-interp": "MRG_INTERPOLATION",
    "mrg-discrete": "MRG_DISCRETE",
    "mrg-small": "PENA",
    "sundt": "SUNDT",
    "tigerholm": "TIGERHOLM",
    "rattay": "RATTAY",
    "sweeney": "SWEENEY",
    "schild94": "SCHILD94",
    "schild97": "SCHILD97",
    "thio-autonomic": "THIO_AUTONOMIC",
    "thio-cutaneous": "THIO_CUTANEOUS",
}

PIP_COMMAND = "pip install 'pyfibers>=0.13'"
#: Marks the one stdout line of the child that carries its answer (NEURON may print to stdout too).
_ANSWER = "PYFIBERS_REF_ANSWER "


def _finite(name: str, value: float, positive: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or (positive and v <= 0):
        raise ParameterError(name, f"{name}={value!r}: must be a finite{' positive' if positive else ''} number")
    return v


@dataclass(frozen=True)
class PyFibersCase:
    """One fibre, point source and waveform to run in PyFibers.

    Parameters
    ----------
    model : str
        nervesim model name, a key of `PYFIBERS_MODELS`.
    diameter_um : float
        Fibre diameter (um).
    n_nodes : int
        PyFibers' ``n_nodes``: nodes of Ranvier for MRG and SWEENEY, sections for the unmyelinated models. An even
        count is reduced by one by PyFibers (its ``enforce_odd_nodecount``); results report the built count.
    x_um, y_um : float
        Point-source position across the fibre (um); the fibre runs along z at x = y = 0.
    waveform : sequence of (duration_ms, level)
        Consecutive phases from t = 0, unit amplitude, the sign of ``level`` is the polarity: ``[(0.1, -1.0)]`` is
        a 0.1 ms cathodic pulse, ``[(0.2, -1.0), (0.2, 1.0)]`` a cathodic-first biphasic one, a level 0 a gap.
        Every edge must lie on the time grid.
    dt_ms, tstop_ms : float
        Time step and run length (ms); round(tstop/dt) steps are run.
    sigma_S_m : float, optional
        Isotropic conductivity (S/m); default 0.2, the quick start's medium.
    z_um : float, optional
        Source position along the fibre (um); default the centre node, node index (n_nodes - 1) // 2 of the built
        fibre.
    temperature_c : float, optional
        Temperature (degC); default 37, PyFibers' default for every model.
    tolerance : float, optional
        Relative bracket width at which PyFibers' bisection stops; default 1e-4 (0.01 %), so that its search error
        is far below the 0.1 % at which engines are compared.
    passive_end_nodes : bool or int, optional
        Passed to PyFibers; None (default) keeps PyFibers' default for the model.
    stimamp_top_mA, stimamp_bottom_mA : float, optional
        PyFibers' initial bounds (magnitudes, mA; defaults 1 and 0.01, PyFibers' own). Bounds close to the
        threshold save runs; the result does not depend on them beyond the tolerance. A top far above the
        threshold can block conduction (virtual anodes): PyFibers then takes it for sub-threshold and raises it
        10 % at a time until its 50 steps run out or NEURON fails (SWEENEY 10 um, 500 um away, top 1 mA: a
        "Zero Diagonal" error at ~4 mA; its threshold is 0.045 mA), so give a top above but near the threshold.
    exit_t_shift_ms : float or None, optional
        PyFibers' early exit: runs stop this long after the first detected AP time (default 5 ms, PyFibers'
        own); None disables it.

    Raises
    ------
    ParameterError
        At construction, naming the field, for an unknown model or an invalid value.
    """

    model: str
    diameter_um: float
    n_nodes: int
    x_um: float
    y_um: float
    waveform: tuple[tuple[float, float], ...]
    dt_ms: float
    tstop_ms: float
    sigma_S_m: float = 0.2
    z_um: float | None = None
    temperature_c: float = 37.0
    tolerance: float = 1e-4
    passive_end_nodes: bool | int | None = None
    stimamp_top_mA: float = 1.0
    stimamp_bottom_mA: float = 0.01
    exit_t_shift_ms: float | None = 5.0

    def __post_init__(self) -> None:
        if self.model not in PYFIBERS_MODELS:
            raise ParameterError("model", f"model={self.model!r}: PyFibers has no such model; choose one of "
                                          f"{', '.join(PYFIBERS_MODELS)}")
        _finite("diameter_um", self.diameter_um, positive=True)
        if isinstance(self.n_nodes, bool) or not isinstance(self.n_nodes, int) or self.n_nodes < 3:
            raise ParameterError("n_nodes", f"n_nodes={self.n_nodes!r}: must be an integer >= 3")
        x, y = _finite("x_um", self.x_um), _finite("y_um", self.y_um)
        if x == 0 and y == 0:
            raise ParameterError("x_um", "x_um=0 and y_um=0 put the point source on the fibre's axis, where its "
                                         "potential is infinite: move it off the axis")
        if self.z_um is not None:
            _finite("z_um", self.z_um)
        _finite("sigma_S_m", self.sigma_S_m, positive=True)
        _finite("temperature_c", self.temperature_c, positive=True)
        _finite("dt_ms", self.dt_ms, positive=True)
        _finite("tstop_ms", self.tstop_ms, positive=True)
        tol = _finite("tolerance", self.tolerance, positive=True)
        if tol >= 1:
            raise ParameterError("tolerance", f"tolerance={tol:g}: must be a relative bracket width below 1")
        top = _finite("stimamp_top_mA", self.stimamp_top_mA, positive=True)
        if top <= _finite("stimamp_bottom_mA", self.stimamp_bottom_mA, positive=True):
            raise ParameterError("stimamp_top_mA", f"stimamp_top_mA={top:g} must exceed stimamp_bottom_mA="
                                                   f"{self.stimamp_bottom_mA:g}")
        if self.exit_t_shift_ms is not None:
            _finite("exit_t_shift_ms", self.exit_t_shift_ms, positive=True)
        pen = self.passive_end_nodes
        if pen is not None and not isinstance(pen, bool) and not (isinstance(pen, int) and pen >= 0):
            raise ParameterError("passive_end_nodes", f"passive_end_nodes={pen!r}: use None, True, False or an "
                                                      "integer >= 0")
        try:
            phases = tuple((float(d), float(v)) for d, v in self.waveform)
        except (TypeError, ValueError):
            raise ParameterError("waveform", f"waveform={self.waveform!r}: give (duration_ms, level) pairs") from None
        object.__setattr__(self, "waveform", phases)
        self.levels()  # checks the phases and their edges against the time grid
        if self.n_steps < 1:
            raise ParameterError("tstop_ms", f"tstop_ms={self.tstop_ms:g}: shorter than one step of {self.dt_ms:g} ms")
        end = sum(d for d, _ in phases)
        if end > self.tstop_ms + 1e-9:
            raise ParameterError("tstop_ms", f"tstop_ms={self.tstop_ms:g} ends before the waveform ({end:g} ms): "
                                             "increase tstop_ms")

    @property
    def n_steps(self) -> int:
        """Time steps run, round(tstop_ms / dt_ms), as nervesim counts them."""
        return int(round(self.tstop_ms / self.dt_ms))

    def levels(self) -> list[float]:
        """Waveform level of each step, as `nervesim.Waveform.sample` gives it, without the trailing zeros.

        Returns
        -------
        list of float
            Entry n is the unitless signed level during step n (t_n -> t_n + dt).

        Raises
        ------
        ParameterError
            For a phase that is not finite and positive or an edge off the time grid.
        """
        t = [0.0]
        for duration, _ in self.waveform:
            t.append(t[-1] + _finite("waveform", duration, positive=True))
        if len(t) < 2:
            raise ParameterError("waveform", "waveform: give at least one (duration_ms, level) phase")
        sampled = Waveform.sampled(t, [v for _, v in self.waveform]).sample(self.dt_ms, self.n_steps)
        nonzero = [i for i, v in enumerate(sampled) if v != 0]
        return [float(v) for v in sampled[:nonzero[-1] + 1]] if nonzero else []

    def _job(self) -> dict:
        """The case in the child's terms (PyFibers' names and signs)."""
        return {"model": PYFIBERS_MODELS[self.model], "diameter": float(self.diameter_um), "n_nodes": self.n_nodes,
                "temperature": float(self.temperature_c), "passive_end_nodes": self.passive_end_nodes,
                "x": float(self.x_um), "y": float(self.y_um), "z": None if self.z_um is None else float(self.z_um),
                "sigma": float(self.sigma_S_m), "levels": self.levels(), "dt": float(self.dt_ms),
                "n_steps": self.n_steps, "termination_percent": 100.0 * self.tolerance,
                "top": float(self.stimamp_top_mA), "bottom": float(self.stimamp_bottom_mA),
                "exit_t_shift": self.exit_t_shift_ms}


@dataclass(frozen=True)
class PyFibersResult:
    """PyFibers' threshold for one `PyFibersCase`, with what it built.

    Attributes
    ----------
    case : PyFibersCase
        The case run.
    threshold_mA : float or None
        PyFibers' threshold (positive magnitude, mA): the supra-threshold bound of its final bracket; None when
        PyFibers raised (see ``error``).
    bracket_mA : tuple of float or None
        (largest sub-threshold amplitude tried below the threshold, threshold) in mA; its relative width is below
        the case's tolerance. Also filled when only PyFibers' confirming run raised (e.g. end excitation).
    n_runs : int
        Simulations PyFibers ran, including its confirming run at the threshold.
    n_nodes, n_sections : int or None
        Nodes and sections PyFibers built (None if the build failed).
    centre_node : int or None
        (n_nodes - 1) // 2.
    centre_z_um : float or None
        Centre of the centre node's section along the fibre (um).
    length_um : float or None
        Fibre length, the sum of the section lengths (um).
    detection_node : int or None
        Node whose APCount decides (PyFibers: int(0.9 (n_nodes - 1))).
    detection_time_ms : float or None
        AP time at the detection node in the run at the threshold, rounded by PyFibers to the decimals of dt.
    initiation_nodes : tuple of int
        PyFibers' initiation nodes (earliest AP times) in the run at the threshold.
    wall_s : float
        Wall time of the case in the child, build included (s).
    warnings : tuple of str
        PyFibers' warnings and logged warnings for the case.
    error : str or None
        ``"<ExceptionType>: <message>"`` if PyFibers raised; the batch goes on with the next case.
    """

    case: PyFibersCase
    threshold_mA: float | None
    bracket_mA: tuple[float, float] | None
    n_runs: int
    n_nodes: int | None
    n_sections: int | None
    centre_node: int | None
    centre_z_um: float | None
    length_um: float | None
    detection_node: int | None
    detection_time_ms: float | None
    initiation_nodes: tuple[int, ...]
    wall_s: float
    warnings: tuple[str, ...] = field(default=())
    error: str | None = None


@dataclass(frozen=True)
class PyFibersTrace:
    """Membrane potentials of one PyFibers run (`pyfibers_trace`).

    Attributes
    ----------
    t_ms : list of float
        NEURON's time of each sample (ms), t = 0 first, n_steps + 1 samples.
    vm_mV : list of list of float
        Membrane potential (mV) per requested node, one list per node, aligned with ``t_ms``.
    nodes : tuple of int
        The node indices recorded.
    """

    t_ms: list[float]
    vm_mV: list[list[float]]
    nodes: tuple[int, ...]


def _mechanisms_compiled(mod_dir: Path) -> bool:
    return any(mod_dir.rglob("libnrnmech.*")) or (mod_dir / "nrnmech.dll").exists()


def ensure_pyfibers() -> None:
    """PyFibers installed with its NEURON mechanisms compiled, checked without importing it here (its import
    loads its mechanisms into this process's NEURON).

    A pip install does not compile them, and without them every PyFibers run fails with NEURON's "argument not a
    density mechanism name". The first call compiles them with PyFibers' ``pyfibers_compile`` (about a minute,
    once per install; under a file lock, so that parallel processes build once) and says so on stderr.

    Raises
    ------
    ImportError
        If PyFibers is not installed, or its mechanisms are not compiled and ``pyfibers_compile`` could not build
        them; the message says what to run.
    """
    try:
        spec, why = util.find_spec("pyfibers"), ""
    except ImportError as exc:  # a broken install
        spec, why = None, f" ({exc})"
    if spec is None or spec.origin is None:
        raise ImportError(f"cannot import pyfibers{why}: the PyFibers reference needs it ({PIP_COMMAND})")
    mod_dir = Path(spec.origin).parent / "MOD"
    if _mechanisms_compiled(mod_dir):
        return
    tool = Path(sys.executable).parent / "pyfibers_compile"
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    detail = f"{tool} not found"
    with open(root / "pyfibers_compile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _mechanisms_compiled(mod_dir) and tool.exists():
            print("compiling PyFibers' NEURON mechanisms (pyfibers_compile, about a minute, once per install)",
                  file=sys.stderr, flush=True)
            proc = subprocess.run([str(tool)], capture_output=True, text=True)
            detail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])  # one line
    if not _mechanisms_compiled(mod_dir):
        raise ImportError(f"PyFibers' NEURON mechanisms are not compiled in {mod_dir} and pyfibers_compile could "
                          f"not build them ({detail}): run pyfibers_compile once (NEURON's nrnivmodl needs a C "
                          "compiler)")


def _call_child(request: dict, timeout_s: float | None) -> dict:
    """Run ``request`` in ``python -m nervesim.pyfibers_ref`` and return its answer."""
    ensure_pyfibers()
    try:
        proc = subprocess.run([sys.executable, "-m", "nervesim.pyfibers_ref"], input=json.dumps(request),
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"PyFibers did not finish within timeout_s={timeout_s:g} s") from None
    answer = [ln for ln in proc.stdout.splitlines() if ln.startswith(_ANSWER)]
    if proc.returncode != 0 or len(answer) != 1:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"the PyFibers child process failed (exit status {proc.returncode}):\n{tail}")
    return json.loads(answer[0][len(_ANSWER):])


def pyfibers_thresholds(cases: list[PyFibersCase], timeout_s: float | None = 3600.0) -> list[PyFibersResult]:
    """PyFibers' activation thresholds of ``cases``, all run in one child process.

    Parameters
    ----------
    cases : list of PyFibersCase
        The cases, run in order.
    timeout_s : float or None, optional
        Limit for the whole batch (s; default 3600); None waits forever.

    Returns
    -------
    list of PyFibersResult
        One per case, in order. A case for which PyFibers raised carries the error text and no threshold.

    Raises
    ------
    ImportError
        If PyFibers is not installed.
    RuntimeError
        If the child process dies or exceeds ``timeout_s``.
    """
    cases = list(cases)
    for case in cases:
        if not isinstance(case, PyFibersCase):
            raise ParameterError("cases", f"cases: {case!r} is not a PyFibersCase")
    answer = _call_child({"kind": "threshold", "jobs": [c._job() for c in cases]}, timeout_s)
    out = []
    for case, r in zip(cases, answer["results"], strict=True):
        bracket = tuple(r["bracket"]) if r["bracket"] is not None else None
        out.append(PyFibersResult(case=case, threshold_mA=r["threshold"], bracket_mA=bracket, n_runs=r["n_runs"],
                                  n_nodes=r["n_nodes"], n_sections=r["n_sections"], centre_node=r["centre_node"],
                                  centre_z_um=r["centre_z"], length_um=r["length"],
                                  detection_node=r["detection_node"], detection_time_ms=r["detection_time"],
                                  initiation_nodes=tuple(r["initiation_nodes"]), wall_s=r["wall_s"],
                                  warnings=tuple(r["warnings"]), error=r["error"]))
    return out


def pyfibers_trace(case: PyFibersCase, amplitude_mA: float, nodes: list[int],
                   timeout_s: float | None = 600.0) -> PyFibersTrace:
    """Membrane potential at ``nodes`` in one PyFibers run of ``case`` at ``amplitude_mA`` (no early exit).

    Parameters
    ----------
    case : PyFibersCase
        Fibre, source and waveform (its search settings are ignored).
    amplitude_mA : float
        Stimulus magnitude (mA, > 0); the waveform carries the polarity.
    nodes : list of int
        Node indices of the built fibre to record.
    timeout_s : float or None, optional
        Limit for the child process (s; default 600).

    Returns
    -------
    PyFibersTrace
        Times (ms) and the membrane potential (mV) of each node.

    Raises
    ------
    ParameterError
        For a non-positive amplitude or an empty node list.
    RuntimeError
        If PyFibers raised (e.g. a node index out of range), or the child process failed.
    """
    amp = _finite("amplitude_mA", amplitude_mA, positive=True)
    nodes = [int(n) for n in nodes]
    if not nodes:
        raise ParameterError("nodes", "nodes: give at least one node index to record")
    answer = _call_child({"kind": "trace", "job": case._job(), "amplitude": amp, "nodes": nodes}, timeout_s)
    if answer["error"]:
        raise RuntimeError(f"PyFibers failed on the trace run: {answer['error']}")
    return PyFibersTrace(t_ms=answer["t"], vm_mV=answer["vm"], nodes=tuple(nodes))


# --- Child process: everything below runs with PyFibers imported ----------------------------------------


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


def _build(job: dict, meta: dict):
    """Build the fibre and its potentials for a 1 mA source; fill ``meta`` with what was built."""
    from pyfibers import FiberModel, build_fiber

    kwargs = {} if job["passive_end_nodes"] is None else {"passive_end_nodes": job["passive_end_nodes"]}
    fiber = build_fiber(FiberModel[job["model"]], diameter=job["diameter"], n_nodes=job["n_nodes"],
                        temperature=job["temperature"], **kwargs)
    n_nodes, n_sections = len(fiber.nodes), len(fiber.sections)
    centre = (n_nodes - 1) // 2
    z_all = fiber.longitudinal_coordinates
    centre_z = float(z_all[centre * (n_sections - 1) // (n_nodes - 1)])  # nodes are every period-th section
    meta.update(n_nodes=n_nodes, n_sections=n_sections, centre_node=centre, centre_z=centre_z,
                length=float(fiber.length), detection_node=fiber.loc_index(0.9))
    z = centre_z if job["z"] is None else job["z"]
    fiber.potentials = fiber.point_source_potentials(job["x"], job["y"], z, 1.0, job["sigma"])
    return fiber


def _stimulation_class():
    """PyFibers' ScaledStim, counting runs and recording each search trial's outcome (its algorithm untouched)."""
    from pyfibers import ScaledStim

    class CountingStim(ScaledStim):
        def __init__(self, job: dict) -> None:
            levels, dt = job["levels"], job["dt"]
            # PyFibers calls the waveform at step·dt; the index recovers the step exactly.
            def level(t: float) -> float:
                n = int(round(t / dt))
                return levels[n] if n < len(levels) else 0.0

            # int(tstop/dt) steps in PyFibers: half a step more than n·dt makes that n exactly.
            super().__init__(waveform=level, dt=dt, tstop=(job["n_steps"] + 0.5) * dt)
            self.n_runs = 0
            self.trials: list[tuple[float, bool]] = []

        def run_sim(self, *args, **kwargs):
            self.n_runs += 1
            return super().run_sim(*args, **kwargs)

        def threshsim(self, stimamp, fiber, **kwargs):
            supra, aps = super().threshsim(stimamp, fiber, **kwargs)
            self.trials.append((float(stimamp), bool(supra)))
            return supra, aps

    return CountingStim


def _threshold(job: dict, stim_class) -> dict:
    meta = {"n_nodes": None, "n_sections": None, "centre_node": None, "centre_z": None, "length": None,
            "detection_node": None}
    out = {"threshold": None, "bracket": None, "n_runs": 0, "detection_time": None, "initiation_nodes": [],
           "error": None}
    fiber = stim = None
    try:
        fiber = _build(job, meta)
        stim = stim_class(job)
        amp, (_, ap_time) = stim.find_threshold(
            fiber, termination_tolerance=job["termination_percent"], stimamp_top=job["top"],
            stimamp_bottom=job["bottom"], exit_t_shift=job["exit_t_shift"])
        out.update(threshold=float(amp), detection_time=ap_time,
                   initiation_nodes=[int(i) for i in fiber.initiation_nodes()[0]])
    except Exception as exc:  # one failing case must not end the batch: report it with the case
        out["error"] = f"{type(exc).__name__}: {exc}"
    if stim is not None:
        out["n_runs"] = stim.n_runs
        supra = [a for a, s in stim.trials if s]
        if supra:
            top = out["threshold"] if out["threshold"] is not None else min(supra)
            sub = [a for a, s in stim.trials if not s and a < top]
            out["bracket"] = [max(sub), top] if sub else None
    return {**meta, **out}


def _trace(job: dict, amplitude: float, nodes: list[int], stim_class) -> dict:
    meta: dict = {}
    fiber = _build(job, meta)
    stim = stim_class(job)
    vectors = fiber.record_vm(indices=nodes, allow_missing=False)
    stim.run_sim(amplitude, fiber, fail_on_end_excitation=None)
    return {"t": list(stim.time), "vm": [list(v) for v in vectors]}


def _captured(fn, *args) -> tuple[dict, float]:
    """``fn(*args)`` with PyFibers' warnings and logged warnings collected into its answer; wall time."""
    import pyfibers

    handler = _LogCapture()
    pyfibers.logger.addHandler(handler)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            answer = fn(*args)
        except Exception as exc:  # reported in the answer; the parent decides
            answer = {"error": f"{type(exc).__name__}: {exc}"}
    wall = time.perf_counter() - t0
    pyfibers.logger.removeHandler(handler)
    texts = [f"{w.category.__name__}: {w.message}" for w in caught] + handler.messages
    answer["warnings"] = list(dict.fromkeys(texts))  # each distinct text once, in order
    answer.setdefault("error", None)
    return answer, wall


def _free_sections() -> None:
    """Delete the last case's sections: NEURON integrates every section in existence, not one fibre."""
    from neuron import h

    gc.collect()
    left = sum(1 for _ in h.allsec())
    if left:
        raise RuntimeError(f"{left} NEURON sections of a previous case are still alive")


def _child() -> None:
    # Keep fd 1 for the answer alone: NEURON and PyFibers print to stdout at the C level.
    answer_fd = os.dup(1)
    os.dup2(2, 1)
    request = json.load(sys.stdin)
    import pyfibers  # noqa: F401  (loads PyFibers' mechanisms into NEURON)

    stim_class = _stimulation_class()
    if request["kind"] == "trace":
        answer, _ = _captured(_trace, request["job"], request["amplitude"], request["nodes"], stim_class)
    else:
        results = []
        for job in request["jobs"]:
            result, wall = _captured(_threshold, job, stim_class)
            result["wall_s"] = wall
            results.append(result)
            _free_sections()
        answer = {"results": results}
    with os.fdopen(answer_fd, "w") as out, contextlib.redirect_stdout(out):
        print(_ANSWER + json.dumps(answer))


if __name__ == "__main__":
    _child()
