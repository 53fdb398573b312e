"""The same fibre in a real NEURON: the reference the Numba engine is validated against.

Optional: needs the ``neuron`` package (``pip install 'nervesim[neuron]'``). The NMODL of every
mechanism in ``models/mechanisms`` is generated from its definition (`nervesim.mechanism`, the
same one the Numba kernels come from) and compiled with ``nrnivmodl`` on first use into a user cache directory
(``$NERVESIM_CACHE_DIR`` or ``$XDG_CACHE_HOME/nervesim``), under a file lock so that concurrent
processes build once. Units are NEURON's throughout.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .cache import cache_root
from .extracellular import Electrode
from .fibre import Fibre
from .membrane import nmodl_files
from .simulation import (
    AP_THRESHOLD_MV,
    DEFAULT_DT_MS,
    PRERUN_DT_MS,
    PRERUN_STEPS,
    IntracellularPulse,
    SimulationResult,
    Stimulation,
    decayed,
)
from .waveform import Waveform

os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")  # no X display banner on stdout
try:
    import neuron as _neuron
    from neuron import h
except ImportError as exc:  # pragma: no cover - exercised only without neuron
    raise ImportError("nervesim.neuron needs NEURON: pip install 'nervesim[neuron]'") from exc

_loaded: set[str] = set()
QUIET_CHECK = 20  # steps between decayed-response checks (reading every node costs Python time)


def neuron_version() -> str:
    """The installed NEURON's version.

    Returns
    -------
    str
        ``neuron.__version__``, e.g. ``"9.0.2"``.
    """
    return str(_neuron.__version__)


def _nrnivmodl() -> str:
    local = Path(sys.executable).parent / "nrnivmodl"
    found = str(local) if local.exists() else shutil.which("nrnivmodl")
    if found is None:
        raise RuntimeError("nrnivmodl not found: install NEURON with pip install 'nervesim[neuron]'")
    return found


def compiled_mechanisms_dir() -> Path:
    """Compile the project's NMODL mechanisms with ``nrnivmodl``, once per (sources, NEURON version).

    The build goes to ``cache_root()/mech-<hash>`` under a file lock, so concurrent processes
    compile once and never see a half-built directory.

    Returns
    -------
    pathlib.Path
        The directory holding the compiled mechanism library.

    Raises
    ------
    RuntimeError
        If ``nrnivmodl`` is not found or the compilation fails (its output is in the message).
    """
    sources = {name: text.encode() for name, text in sorted(nmodl_files().items())}
    digest = hashlib.sha256(neuron_version().encode())
    for name, data in sources.items():
        digest.update(name.encode() + b"\0" + data)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"mech-{digest.hexdigest()[:16]}"
    with open(root / f"{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / "ok").exists():
            build = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=root))
            for name, data in sources.items():
                (build / name).write_bytes(data)
            proc = subprocess.run([_nrnivmodl()], cwd=build, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"nrnivmodl failed in {build}:\n{proc.stdout}\n{proc.stderr}")
            (build / "ok").write_text(neuron_version())
            if final.exists():
                shutil.rmtree(final)
            os.rename(build, final)
    return final


def load_mechanisms() -> None:
    """Compile (if needed) and load the mechanisms into this process's NEURON, once per process.

    Raises
    ------
    RuntimeError
        As `compiled_mechanisms_dir`.
    """
    path = compiled_mechanisms_dir()
    if str(path) in _loaded:
        return
    lib = path / platform.machine() / "libnrnmech.so"
    if not lib.exists():
        lib = next(path.glob("*/libnrnmech.so"), None) or next(path.glob("*/.libs/libnrnmech.so"))
    h.nrn_load_dll(str(lib))
    _loaded.add(str(path))


class NeuronFibre:
    """A `~nervesim.fibre.Fibre` instantiated as NEURON sections.

    One section per fibre section (nseg = 1) with NEURON's ``extracellular`` mechanism
    (nlayer = 2); the model's membrane mechanisms at active sections, ``pas`` wherever the fibre
    has a passive leak. Every value comes from the `~nervesim.fibre.Fibre` arrays and its
    `~nervesim.membrane.Membrane` (NEURON units), as in the Numba engine.

    Parameters
    ----------
    fibre : nervesim.fibre.Fibre
        The fibre to instantiate; compiles and loads the mechanisms on first use.

    Attributes
    ----------
    sections : list of neuron.hoc.HocObject
        The sections in order along z, connected end to start.
    nodes : list of neuron.hoc.HocObject
        The node sections, in node order.
    """

    def __init__(self, fibre: Fibre) -> None:
        load_mechanisms()
        h.load_file("stdrun.hoc")
        self.fibre = fibre
        membrane = fibre.membrane
        for ion, spec in membrane.ions.items():
            if spec.dynamic:  # concentrations start from these globals at finitialize (NEURON's cinit)
                setattr(h, f"{ion}i0_{ion}_ion", spec.c_in_mM)
                setattr(h, f"{ion}o0_{ion}_ion", spec.c_out_mM)
        self.sections = []
        for i in range(fibre.n_sections):
            sec = h.Section(name=f"s{i}")
            sec.nseg = 1
            sec.L = fibre.length_um[i]
            sec.diam = fibre.diam_um[i]
            sec.Ra = fibre.ra_ohm_cm[i]
            sec.cm = fibre.cm_uF_cm2[i]
            sec.insert("extracellular")
            sec.xraxial[0] = fibre.xraxial_MOhm_cm[i]
            sec.xg[0] = fibre.xg_S_cm2[i]
            sec.xc[0] = fibre.xc_uF_cm2[i]
            seg = sec(0.5)
            if not fibre.active[i] or fibre.g_pas_S_cm2[i] != 0:
                sec.insert("pas")
                seg.pas.g = fibre.g_pas_S_cm2[i]
                seg.pas.e = fibre.e_pas_mV[i]
            if fibre.active[i]:
                for mech in membrane.mechanisms:
                    sec.insert(mech.suffix)
                    for name, value in membrane.parameters[mech.name].items():
                        setattr(seg, f"{name}_{mech.suffix}", value)
                for ion, spec in membrane.ions.items():
                    if not spec.dynamic:
                        # Concentrations constant, reversal potential as given, never recomputed (PyFibers'
                        # ion_style 1, 2, 0, 0, 0): reading a concentration would otherwise make NEURON apply
                        # its own Nernst at finitialize.
                        h.ion_style(f"{ion}_ion", 1, 2, 0, 0, 0, sec=sec)
                        setattr(seg, f"{ion}i", spec.c_in_mM)
                        setattr(seg, f"{ion}o", spec.c_out_mM)
                        setattr(seg, f"e{ion}", spec.reversal_mV(fibre.temperature_c))
            if i:
                sec.connect(self.sections[i - 1](1), 0)
            self.sections.append(sec)
        self.nodes = [self.sections[i] for i in fibre.node_sections]
        if fibre.balance is not None:
            self._balance(fibre.balance)

    def _balance(self, balance: dict) -> None:
        """PyFibers' ``balance()`` done the NEURON way: after ``finitialize(v_rest)``, cancel each listed ion's
        total current at rest with a leak conductance, or a constant pump current where the leak would be
        negative (reference fibre-models.md §6.5, §8.6)."""
        fibre = self.fibre
        h.celsius = fibre.temperature_c
        h.finitialize(fibre.v_rest_mV)
        active = [sec for sec, on in zip(self.sections, fibre.active) if on]
        seg = active[0](0.5)
        leak, pump = balance["leak"], balance["pump"]
        for ion in balance["ions"]:
            total, e_rev = getattr(seg, f"i{ion}"), getattr(seg, f"e{ion}")
            g = -total / (fibre.v_rest_mV - e_rev)
            name, value = (f"i{ion}_pump_nsim_{pump}", -total) if g < 0 else (f"g{ion}_nsim_{leak}", g)
            for sec in active:
                setattr(sec(0.5), name, value)


class NeuronStimulation:
    """The interface of `nervesim.simulation.Stimulation`, run by NEURON's fixed-step ``fadvance`` loop.

    Input checks, potentials and waveform samples come from a `~nervesim.simulation.Stimulation`
    built from the same arguments, so both engines integrate identical arrays. Potentials are
    applied through ``e_extracellular`` of every section; APs are counted by an ``APCount`` at
    every node (threshold -30 mV by default).

    Parameters
    ----------
    fibre : nervesim.fibre.Fibre
        The fibre.
    electrode : Electrode, FilePotentials, numpy.ndarray or None
        Source of the extracellular potential per section (mV per mA of stimulus); an array gives
        it directly (one value per section); None for no extracellular stimulus.
    waveform : Waveform or None
        Unit-amplitude stimulus waveform (its sign is the polarity); None for none.
    dt_ms : float, optional
        Time step (ms, in (0, 0.1]; default `~nervesim.simulation.DEFAULT_DT_MS`).
    tstop_ms : float, optional
        Run length (ms); default `nervesim.simulation.default_tstop_ms`.
    intracellular : IntracellularPulse, optional
        A current pulse injected into one node with an ``IClamp``.
    allow_large : bool, optional
        Accept a run beyond the size limits of `nervesim.simulation.Stimulation`.

    Raises
    ------
    ParameterError
        For bad ``dt_ms``, ``tstop_ms`` or potentials, or an oversized run, as
        `nervesim.simulation.Stimulation`.
    """

    def __init__(self, fibre: Fibre, electrode: Electrode | np.ndarray | None, waveform: Waveform | None,
                 *, dt_ms: float = DEFAULT_DT_MS, tstop_ms: float | None = None,
                 intracellular: IntracellularPulse | None = None, allow_large: bool = False) -> None:
        # Reuse the Numba engine's input handling (and size limits) so both engines see identical arrays.
        self._ref = Stimulation(fibre, electrode, waveform, dt_ms=dt_ms, tstop_ms=tstop_ms,
                                intracellular=intracellular, allow_large=allow_large)
        self._args = (electrode, waveform, intracellular, allow_large)
        self.fibre, self.dt_ms, self.tstop_ms = fibre, self._ref.dt_ms, self._ref.tstop_ms
        self.n_steps, self.ve_mV, self.wave = self._ref.n_steps, self._ref.ve_mV, self._ref.wave
        self.cell = NeuronFibre(fibre)
        self.iclamp = None
        if intracellular is not None:
            self.iclamp = h.IClamp(self.cell.nodes[intracellular.node](0.5))
            self.iclamp.delay = intracellular.delay_ms
            self.iclamp.dur = intracellular.duration_ms
            self.iclamp.amp = intracellular.amplitude_nA
        self.apcs = [h.APCount(sec(0.5)) for sec in self.cell.nodes]
        # APCount.time is the *last* crossing; the recorded times give the first, as the Numba engine reports.
        self.ap_time_vectors = []
        for apc in self.apcs:
            vec = h.Vector()
            apc.record(vec)
            self.ap_time_vectors.append(vec)
        self.vm_vectors = []
        for sec in self.cell.nodes:
            vec = h.Vector()
            vec.record(sec(0.5)._ref_v)
            self.vm_vectors.append(vec)

    def with_tstop(self, tstop_ms: float) -> NeuronStimulation:
        """The same stimulation run for ``tstop_ms``, as `nervesim.simulation.Stimulation.with_tstop`.

        Parameters
        ----------
        tstop_ms : float
            Run length (ms).

        Returns
        -------
        NeuronStimulation
            A new NEURON model of the same fibre and stimulus.
        """
        electrode, waveform, intracellular, allow_large = self._args
        return NeuronStimulation(self.fibre, electrode, waveform, dt_ms=self.dt_ms, tstop_ms=tstop_ms,
                                 intracellular=intracellular, allow_large=allow_large)

    def _node_v(self) -> np.ndarray:
        return np.array([sec(0.5).v for sec in self.cell.nodes])

    def run_many(self, amplitudes_mA: Sequence[float], *, early_exit: bool = True) -> list[SimulationResult]:
        """Run each amplitude in turn (NEURON runs one simulation at a time per process).

        Parameters
        ----------
        amplitudes_mA : sequence of float
            Stimulus amplitudes (mA, magnitudes >= 0).
        early_exit : bool, optional
            End each run once its outcome is decided, as `run` (default True).

        Returns
        -------
        list of SimulationResult
            One result per amplitude, in order, without recorded traces.
        """
        return [self.run(a, early_exit=early_exit) for a in amplitudes_mA]

    def initialise(self, ap_threshold_mV: float = AP_THRESHOLD_MV) -> None:
        """Bring the fibre to rest and reset recording: ``finitialize``, the pre-run, then t = 0.

        The pre-run is ``PRERUN_STEPS`` steps of `~nervesim.simulation.PRERUN_DT_MS` ms with no
        stimulus (`nervesim.simulation`), as in the Numba engine.

        Parameters
        ----------
        ap_threshold_mV : float, optional
            APCount threshold at every node (mV; default -30).
        """
        fib = self.fibre
        for apc in self.apcs:
            apc.thresh = ap_threshold_mV
        for sec in self.cell.sections:
            sec(0.5).e_extracellular = 0.0
        self._last_w = 0.0
        h.celsius = fib.temperature_c
        h.dt = self.dt_ms
        h.finitialize(fib.v_rest_mV)
        h.t = -PRERUN_DT_MS * PRERUN_STEPS
        h.dt = PRERUN_DT_MS
        for _ in range(PRERUN_STEPS):
            h.fadvance()
        h.dt = self.dt_ms
        h.t = 0.0
        h.fcurrent()
        h.frecord_init()  # restart the Vm vectors at t = 0
        for apc in self.apcs:
            apc.n = 0

    def advance(self, n: int, amplitude_mA: float) -> None:
        """Advance one time step (t_n -> t_n + dt) with the stimulus of waveform sample ``n``.

        Parameters
        ----------
        n : int
            Index of the step (0-based) and of its waveform sample.
        amplitude_mA : float
            Stimulus amplitude (mA, a magnitude); the potentials applied are
            ``amplitude_mA * wave[n] * ve_mV``.
        """
        w = amplitude_mA * self.wave[n]
        if w != self._last_w:
            for sec, ve in zip(self.cell.sections, self.ve_mV):
                sec(0.5).e_extracellular = w * ve
            self._last_w = w
        h.fadvance()

    def result(self, amplitude_mA: float, steps: int, record_nodes: Sequence[int] = (),
               ap_threshold_mV: float = AP_THRESHOLD_MV) -> SimulationResult:
        """Collect what the first ``steps`` steps since `initialise` produced.

        Parameters
        ----------
        amplitude_mA : float
            Stimulus amplitude of the run (mA), stored in the result.
        steps : int
            Number of steps run.
        record_nodes : sequence of int, optional
            Nodes whose Vm traces to return (default none).
        ap_threshold_mV : float, optional
            Threshold of the interpolated crossing times (mV; default -30).

        Returns
        -------
        SimulationResult
            AP counts and times at every node, interpolated crossing times, and the Vm (mV) of
            ``record_nodes`` at t = 0, dt, ..., steps·dt.
        """
        vm = np.array([vec.as_numpy()[:steps + 1] for vec in self.vm_vectors])
        counts = np.array([int(a.n) for a in self.apcs])
        times = np.array([vec.x[0] if vec.size() > 0 else np.nan for vec in self.ap_time_vectors])
        rec = tuple(int(n) for n in record_nodes)
        return SimulationResult(fibre=self.fibre, amplitude_mA=float(amplitude_mA), dt_ms=self.dt_ms,
                                tstop_ms=self.tstop_ms, steps_run=steps, ap_times_ms=times, ap_counts=counts,
                                crossing_ms=_first_crossings(vm, self.dt_ms, ap_threshold_mV), recorded_nodes=rec,
                                vm_mV=vm[list(rec)] if rec else None, above_at_end=vm[:, -1] >= ap_threshold_mV)

    def run(self, amplitude_mA: float, *, record_nodes: Sequence[int] = (), early_exit: bool = False,
            ap_threshold_mV: float = AP_THRESHOLD_MV) -> SimulationResult:
        """Simulate from rest at one amplitude.

        Parameters
        ----------
        amplitude_mA : float
            Stimulus amplitude (mA, a magnitude; the waveform carries the polarity).
        record_nodes : sequence of int, optional
            Nodes whose Vm (mV) to return at every step (default none).
        early_exit : bool, optional
            End the run once its outcome is decided, as `nervesim.simulation.Stimulation.run`:
            when the detection node fires or, after the stimulus, when the response has decayed
            (checked every ``QUIET_CHECK`` steps). Default False.
        ap_threshold_mV : float, optional
            APCount threshold (mV; default -30).

        Returns
        -------
        SimulationResult
            What the run produced, as from `nervesim.simulation.Stimulation.run`.
        """
        self.initialise(ap_threshold_mV)
        det = self.apcs[self.fibre.detection_node]
        quiet_after = self._ref.quiet_after_step
        v_start = self._node_v()
        v_prev = None
        steps = self.n_steps
        for n in range(self.n_steps):
            self.advance(n, amplitude_mA)
            if early_exit:
                if det.n > 0:
                    steps = n + 1
                    break
                # The decayed-response test of the Numba engine, sampled every QUIET_CHECK steps.
                if n >= quiet_after and (n + 1) % QUIET_CHECK == 0:
                    v_prev = self._node_v()
                elif v_prev is not None:
                    v_now = self._node_v()
                    if decayed(v_now - v_start, v_now - v_prev, self.dt_ms):
                        steps = n + 1
                        break
                    v_prev = None
        return self.result(amplitude_mA, steps, record_nodes, ap_threshold_mV)


def _first_crossings(vm: np.ndarray, dt_ms: float, thresh: float) -> np.ndarray:
    """Interpolated time of each row's first upward crossing of ``thresh`` (NaN if none)."""
    out = np.full(vm.shape[0], np.nan)
    for i, row in enumerate(vm):
        idx = np.flatnonzero((row[1:] >= thresh) & (row[:-1] < thresh))
        if idx.size:
            j = idx[0]
            out[i] = dt_ms * (j + (thresh - row[j]) / (row[j + 1] - row[j]))
    return out
