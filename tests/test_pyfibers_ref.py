"""The PyFibers reference harness (nervesim.pyfibers_ref): it runs the case it is given, as a hand-written PyFibers
script does, and reports what PyFibers built (fibre-models.md §1.1) and computed."""
import json
import math
import subprocess
import sys

import pytest
from conftest import require_pyfibers
from test_quickstart import DT_MS, PYFIBERS_CASE

import nervesim
from nervesim import pyfibers_ref
from nervesim.errors import ParameterError
from nervesim.pyfibers_ref import PYFIBERS_MODELS, PyFibersCase, pyfibers_thresholds, pyfibers_trace

MONO = [(0.1, -1.0)]
DELTA_Z_UM = 8.333  # PyFibers' section length of the unmyelinated models (fibre-models.md §1.1)


def sundt(n_nodes: int, **kw) -> PyFibersCase:
    return PyFibersCase("sundt", 1.0, n_nodes, 0.0, 500.0, MONO, 0.005, 10.0, **kw)


@pytest.fixture(scope="module")
def sundt_batch():
    """A case PyFibers rejects at build (3 passive nodes at each end of a 5-node fibre), then a good SUNDT case."""
    require_pyfibers()
    return pyfibers_thresholds([sundt(5, passive_end_nodes=3), sundt(133, exit_t_shift_ms=None)], timeout_s=600)


def test_quick_start_equals_a_plain_pyfibers_script_and_nervesim():
    """Polarity in the waveform with positive amplitudes, the waveform sampled per step, the source over the centre
    node: the same PyFibers search as the hand-written quick-start script, to the bit."""
    require_pyfibers()
    proc = subprocess.run([sys.executable, "-c", PYFIBERS_CASE.format(dt=DT_MS)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    script = json.loads(proc.stdout.strip().splitlines()[-1])
    (res,) = pyfibers_thresholds([PyFibersCase("mrg-interp", 10.0, 51, 1000.0, 0.0, MONO, DT_MS, 5.1)])
    assert res.error is None and res.threshold_mA == script["threshold_mA"]
    assert res.centre_z_um == script["centre_z_um"]
    lo, hi = res.bracket_mA
    assert hi == res.threshold_mA and 0 < (hi - lo) / hi < 1e-4
    fibre = nervesim.build_fibre("mrg-interp", 10.0, 51)
    assert (res.n_nodes, res.n_sections, res.centre_node) == (fibre.n_nodes, fibre.n_sections, fibre.centre_node)
    assert res.centre_z_um == pytest.approx(fibre.node_z_um[fibre.centre_node], abs=1e-6)
    own = nervesim.find_threshold(fibre, nervesim.Electrode.point(1000.0, 0.0, fibre.node_z_um[fibre.centre_node],
                                                                  0.2),
                                  nervesim.Waveform.monophasic(0.1), dt_ms=DT_MS, tolerance=1e-4)
    # Independent implementations of the same model (as in test_quickstart): within 0.1 %.
    assert own.threshold_mA == pytest.approx(res.threshold_mA, rel=1e-3)


def test_sundt_threshold_and_what_pyfibers_built(sundt_batch):
    res = sundt_batch[1]
    assert res.error is None and math.isfinite(res.threshold_mA) and res.threshold_mA > 0
    lo, hi = res.bracket_mA
    assert hi == res.threshold_mA and 0 < (hi - lo) / hi < 1e-4
    # §1.1: one section per node, each delta_z long; the centre node is section 66, centred at 66.5 delta_z;
    # APs are detected at node int(0.9 (133 - 1)).
    assert (res.n_nodes, res.n_sections, res.centre_node, res.detection_node) == (133, 133, 66, 118)
    assert res.length_um == pytest.approx(133 * DELTA_Z_UM, rel=1e-12)
    assert res.centre_z_um == pytest.approx(66.5 * DELTA_Z_UM, rel=1e-12)
    # Source over the centre of a uniform cable: the initiation sites mirror about the centre node.
    assert res.initiation_nodes and set(res.initiation_nodes) == {132 - i for i in res.initiation_nodes}
    assert res.n_runs > 2 and res.wall_s > 0


def test_failing_case_is_reported_and_the_batch_goes_on(sundt_batch):
    bad, good = sundt_batch
    assert bad.error.startswith("ValueError: Fiber is too short for the requested number of passive end nodes")
    assert bad.threshold_mA is None and bad.bracket_mA is None and bad.n_runs == 0 and bad.n_sections is None
    assert good.error is None and good.threshold_mA is not None


def test_trace_fires_at_the_threshold_and_not_below(sundt_batch):
    """One run at each end of PyFibers' final bracket: the detection node fires at the top only (that case runs
    without early exit, so the search's runs lasted tstop like these)."""
    res = sundt_batch[1]
    lo, hi = res.bracket_mA
    peaks = []
    for amp in (lo, hi):
        tr = pyfibers_trace(res.case, amp, [res.detection_node])
        assert len(tr.t_ms) == len(tr.vm_mV[0]) == res.case.n_steps + 1
        assert tr.t_ms[0] == 0 and tr.t_ms[-1] == pytest.approx(res.case.tstop_ms, abs=1e-9)
        peaks.append(max(tr.vm_mV[0]))
    assert peaks[0] < -30 < peaks[1]  # APCount threshold -30 mV


@pytest.mark.parametrize("model, diameter_um, v0_mV", [("sundt", 1.0, -59.931126), ("schild97", 1.0, -68.385547)])
def test_trace_starts_from_pyfibers_prerun_state(model, diameter_um, v0_mV):
    """Centre-node V at t = 0 after PyFibers' 40 x 5 ms pre-run, 11 nodes, 37 degC (fibre-models.md §9.3)."""
    require_pyfibers()
    case = PyFibersCase(model, diameter_um, 11, 0.0, 500.0, MONO, 0.005, 0.2)
    tr = pyfibers_trace(case, 1e-6, [5])
    assert tr.vm_mV[0][0] == pytest.approx(v0_mV, abs=1e-6)


def test_waveform_levels_per_step():
    """Level n holds during step n: a 0.1/0.1 ms biphasic pulse at dt 0.005 ms is 20 steps -1 then 20 steps +1."""
    case = PyFibersCase("sundt", 1.0, 133, 0.0, 500.0, [(0.1, -1.0), (0.05, 0.0), (0.1, 1.0)], 0.005, 5.1)
    assert case.levels() == [-1.0] * 20 + [0.0] * 10 + [1.0] * 20
    assert case.n_steps == 1020  # round(5.1 / 0.005); int() would give 1019


def test_unknown_model_is_a_one_line_parameter_error():
    with pytest.raises(ParameterError) as exc:
        PyFibersCase("mrg", 10.0, 51, 1000.0, 0.0, MONO, 0.005, 5.1)
    assert exc.value.parameter == "model"
    message = str(exc.value)
    assert len(message.splitlines()) == 1 and "'mrg'" in message
    assert all(name in message for name in PYFIBERS_MODELS)


@pytest.mark.parametrize("change, parameter", [
    ({"waveform": [(0.1025, -1.0)]}, "time_grid"),  # edge off the 0.005 ms grid
    ({"tstop_ms": 0.05}, "tstop_ms"),  # ends before the pulse
    ({"x_um": 0.0, "y_um": 0.0}, "x_um"),  # on the fibre's axis
    ({"n_nodes": 2}, "n_nodes"),
    ({"tolerance": 1.5}, "tolerance"),
    ({"stimamp_top_mA": 0.001}, "stimamp_top_mA"),  # below the default bottom, 0.01
])
def test_bad_case_names_the_parameter(change, parameter):
    args = {"model": "sundt", "diameter_um": 1.0, "n_nodes": 133, "x_um": 0.0, "y_um": 500.0, "waveform": MONO,
            "dt_ms": 0.005, "tstop_ms": 5.1, **change}
    with pytest.raises(ParameterError) as exc:
        PyFibersCase(**args)
    assert exc.value.parameter == parameter


def test_missing_pyfibers_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(pyfibers_ref.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install 'pyfibers>=0\.13'"):
        pyfibers_thresholds([sundt(133)])


def test_ensure_pyfibers_names_the_fix(tmp_path, monkeypatch):
    """Without compiled mechanisms PyFibers fails with NEURON's "argument not a density mechanism name"; the
    check compiles them or says what to run, and says how to install PyFibers when it is absent."""
    import importlib.machinery
    import types

    package = tmp_path / "pyfibers"
    (package / "MOD").mkdir(parents=True)
    spec = importlib.machinery.ModuleSpec("pyfibers", None, origin=str(package / "__init__.py"))
    monkeypatch.setattr(pyfibers_ref, "util", types.SimpleNamespace(find_spec=lambda name: spec))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))  # no pyfibers_compile beside it
    with pytest.raises(ImportError, match="not compiled in .*MOD.*run pyfibers_compile once"):
        pyfibers_ref.ensure_pyfibers()
    (package / "MOD" / "x86_64").mkdir()
    (package / "MOD" / "x86_64" / "libnrnmech.so").write_bytes(b"")
    pyfibers_ref.ensure_pyfibers()  # compiled: nothing to do
    monkeypatch.setattr(pyfibers_ref, "util", types.SimpleNamespace(find_spec=lambda name: None))
    with pytest.raises(ImportError, match=r"cannot import pyfibers: .*\(pip install 'pyfibers>=0.13'\)"):
        pyfibers_ref.ensure_pyfibers()
