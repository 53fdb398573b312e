"""The same fibre in a real NEURON: the reference the Numba engine is validated against.

Optional: needs the ``neuron`` package (``pip install 'nervesim[neuron]'``). Mechanisms from
``models/mechanisms`` are compiled with ``nrnivmodl`` on first use into a user cache directory
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
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from .cache import cache_root
from .channels import AXNODE_PARAMS
from .extracellular import Electrode
from .fibre import Fibre
from .simulation import (
    AP_THRESHOLD_MV,
    DEFAULT_DT_MS,
    PRERUN_DT_MS,
    PRERUN_STEPS,
    QUIET_MV,
    QUIET_MV_MS,
    IntracellularPulse,
    SimulationResult,
    Stimulation,
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
    return str(_neuron.__version__)


def _mod_sources() -> dict[str, bytes]:
    mech = resources.files("nervesim.models").joinpath("mechanisms")
    return {p.name: p.read_bytes() for p in sorted(mech.iterdir(), key=lambda p: p.name) if p.name.endswith(".mod")}


def _nrnivmodl() -> str:
    local = Path(sys.executable).parent / "nrnivmodl"
    found = str(local) if local.exists() else shutil.which("nrnivmodl")
    if found is None:
        raise RuntimeError("nrnivmodl not found: install NEURON with pip install 'nervesim[neuron]'")
    return found


def compiled_mechanisms_dir() -> Path:
    """Compile the project's NMODL files once per (sources, NEURON version); return the build dir."""
    sources = _mod_sources()
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
    """Compile (if needed) and load the mechanisms into this process's NEURON."""
    path = compiled_mechanisms_dir()
    if str(path) in _loaded:
        return
    lib = path / platform.machine() / "libnrnmech.so"
    if not lib.exists():
        lib = next(path.glob("*/libnrnmech.so"), None) or next(path.glob("*/.libs/libnrnmech.so"))
    h.nrn_load_dll(str(lib))
    _loaded.add(str(path))


class NeuronFibre:
    """A `Fibre` instantiated as NEURON sections (nseg = 1, ``extracellular`` with nlayer = 2)."""

    def __init__(self, fibre: Fibre) -> None:
        load_mechanisms()
        h.load_file("stdrun.hoc")
        self.fibre = fibre
        suffix = fibre.mechanism_params["neuron_suffix"]
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
            if fibre.active[i]:
                sec.insert(suffix)
                for name in AXNODE_PARAMS:
                    setattr(seg, f"{name}_{suffix}", fibre.mechanism_params[name])
            else:
                sec.insert("pas")
                seg.pas.g = fibre.g_pas_S_cm2[i]
                seg.pas.e = fibre.e_pas_mV[i]
            if i:
                sec.connect(self.sections[i - 1](1), 0)
            self.sections.append(sec)
        self.nodes = [self.sections[i] for i in fibre.node_sections]


class NeuronStimulation:
    """`Stimulation`'s interface, run by NEURON's own fixed-step ``fadvance`` loop."""

    def __init__(self, fibre: Fibre, electrode: Electrode | np.ndarray | None, waveform: Waveform | None,
                 *, dt_ms: float = DEFAULT_DT_MS, tstop_ms: float | None = None,
                 intracellular: IntracellularPulse | None = None) -> None:
        # Reuse the Numba engine's input handling so both engines see identical arrays.
        self._ref = Stimulation(fibre, electrode, waveform, dt_ms=dt_ms, tstop_ms=tstop_ms,
                                intracellular=intracellular)
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
        self.vm_vectors = []
        for sec in self.cell.nodes:
            vec = h.Vector()
            vec.record(sec(0.5)._ref_v)
            self.vm_vectors.append(vec)

    def _node_v(self) -> np.ndarray:
        return np.array([sec(0.5).v for sec in self.cell.nodes])

    def run_many(self, amplitudes_mA: Sequence[float], *, early_exit: bool = True) -> list[SimulationResult]:
        """Run each amplitude in turn."""
        return [self.run(a, early_exit=early_exit) for a in amplitudes_mA]

    def initialise(self, ap_threshold_mV: float = AP_THRESHOLD_MV) -> None:
        """finitialize, the steady-state pre-run, then t = 0 with recording and APCounts reset."""
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
        """Step n (t_n → t_n + dt) with the extracellular potential of sample n."""
        w = amplitude_mA * self.wave[n]
        if w != self._last_w:
            for sec, ve in zip(self.cell.sections, self.ve_mV):
                sec(0.5).e_extracellular = w * ve
            self._last_w = w
        h.fadvance()

    def result(self, amplitude_mA: float, steps: int, record_nodes: Sequence[int] = (),
               ap_threshold_mV: float = AP_THRESHOLD_MV) -> SimulationResult:
        """What the last ``steps`` steps since `initialise` produced."""
        vm = np.array([vec.as_numpy()[:steps + 1] for vec in self.vm_vectors])
        counts = np.array([int(a.n) for a in self.apcs])
        times = np.array([a.time if a.n > 0 else np.nan for a in self.apcs])
        rec = tuple(int(n) for n in record_nodes)
        return SimulationResult(fibre=self.fibre, amplitude_mA=float(amplitude_mA), dt_ms=self.dt_ms,
                                tstop_ms=self.tstop_ms, steps_run=steps, ap_times_ms=times, ap_counts=counts,
                                crossing_ms=_first_crossings(vm, self.dt_ms, ap_threshold_mV), recorded_nodes=rec,
                                vm_mV=vm[list(rec)] if rec else None)

    def run(self, amplitude_mA: float, *, record_nodes: Sequence[int] = (), early_exit: bool = False,
            ap_threshold_mV: float = AP_THRESHOLD_MV) -> SimulationResult:
        """Simulate at ``amplitude_mA``; ``early_exit`` as `nervesim.Stimulation.run`."""
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
                    if (np.all(np.abs(v_now - v_start) < QUIET_MV)
                            and np.all(np.abs(v_now - v_prev) < QUIET_MV_MS * self.dt_ms)):
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
