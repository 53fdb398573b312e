"""Cross-check against a real NEURON running the same fibre (needs the ``neuron`` package)."""
import numpy as np
import pytest
from conftest import point_at_centre, require

import nervesim
from nervesim.threshold import search_threshold

nrn = require("nervesim.neuron")

# Both engines solve the same equations; differences are floating-point rounding (reference §4.4).
VM_TOL_MV = 1e-6


def compare(fibre, electrode, waveform, amplitude_mA, dt_ms=0.005, tstop_ms=3.0):
    ours = nervesim.Stimulation(fibre, electrode, waveform, dt_ms=dt_ms, tstop_ms=tstop_ms)
    ref = nrn.NeuronStimulation(fibre, electrode, waveform, dt_ms=dt_ms, tstop_ms=tstop_ms)
    nodes = range(fibre.n_nodes)
    a = ours.run(amplitude_mA, record_nodes=nodes)
    b = ref.run(amplitude_mA, record_nodes=nodes)
    return a, b, np.abs(a.vm_mV - b.vm_mV).max()


@pytest.mark.parametrize("amplitude_mA, fires", [(0.10, False), (0.15, True)])
def test_traces_sub_and_supra_threshold(fibre10, amplitude_mA, fires):
    a, b, dv = compare(fibre10, point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(0.1), amplitude_mA)
    assert a.fired is fires and b.fired is fires
    assert np.array_equal(a.ap_counts, b.ap_counts)
    assert dv < VM_TOL_MV
    if fires:
        assert np.array_equal(a.ap_times_ms, b.ap_times_ms, equal_nan=True)


@pytest.mark.parametrize("model, D", [("mrg-discrete", 5.7), ("mrg-small", 3.0)])
def test_traces_other_models_biphasic(model, D):
    f = nervesim.build_fibre(model, D, 21)
    a, b, dv = compare(f, point_at_centre(f, 500.0), nervesim.Waveform.biphasic(0.1, gap_ms=0.05), 1.0)
    assert a.fired and b.fired
    assert np.array_equal(a.ap_counts, b.ap_counts)
    assert dv < VM_TOL_MV


def test_strong_stimulus_beyond_150mV_clamps():
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    a, b, dv = compare(f, point_at_centre(f, 100.0), nervesim.Waveform.monophasic(0.05), 5.0, tstop_ms=1.0)
    assert a.vm_mV.max() > 150 or a.vm_mV.min() < -150  # the clamp branches were exercised
    assert dv < 1e-9 * np.abs(a.vm_mV).max()  # |Vm| reaches thousands of mV: same relative rounding


def test_intracellular_pulse_and_conduction():
    f = nervesim.build_fibre("mrg-interp", 5.7, 21)
    pulse = nervesim.IntracellularPulse(node=1, amplitude_nA=2.0, delay_ms=0.5, duration_ms=0.1)
    kw = dict(dt_ms=0.005, tstop_ms=3.0, intracellular=pulse)
    ours = nervesim.Stimulation(f, None, None, **kw).run(0.0, record_nodes=range(21))
    ref = nrn.NeuronStimulation(f, None, None, **kw).run(0.0, record_nodes=range(21))
    assert ours.ap_counts[1:20].min() == 1
    assert np.abs(ours.vm_mV - ref.vm_mV).max() < VM_TOL_MV
    assert np.allclose(ours.crossing_ms, ref.crossing_ms, rtol=0, atol=1e-9, equal_nan=True)


def test_threshold_same_in_both_engines(fibre10):
    """Same search, same decisions: every probed amplitude, its outcome and the bracket are identical."""
    el, w = point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(0.1)
    ours = search_threshold(nervesim.Stimulation(fibre10, el, w, dt_ms=0.005), tolerance=1e-3)
    ref = search_threshold(nrn.NeuronStimulation(fibre10, el, w, dt_ms=0.005), tolerance=1e-3)
    assert ours.runs == ref.runs and ours.bracket_mA == ref.bracket_mA
    assert ours.initiation_node == ref.initiation_node == fibre10.centre_node
    assert ours.latency_ms == pytest.approx(ref.latency_ms, rel=0, abs=1e-9)  # interpolated crossings
    assert ours.detection_time_ms == ref.detection_time_ms and ours.flags == ref.flags == ()


def test_mechanisms_compile_once_into_user_cache(tmp_path, monkeypatch):
    """Two concurrent first uses build once, outside the source tree."""
    from concurrent.futures import ThreadPoolExecutor

    from nervesim.mechanism import load_mechanism

    monkeypatch.setenv("NERVESIM_CACHE_DIR", str(tmp_path))
    # One mechanism keeps the build short (all of them take a minute); the lock is what is tested.
    monkeypatch.setattr(nrn, "nmodl_files", lambda: {"nsim_axnode.mod": load_mechanism("axnode").nmodl()})
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: nrn.compiled_mechanisms_dir(), range(2)))
    assert paths[0] == paths[1] and paths[0].parent == tmp_path
    assert (paths[0] / "ok").exists() and list(paths[0].glob("*/libnrnmech.so"))
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [paths[0].name]  # no leftover builds


def test_validate_quick_grid_meets_targets(capsys, tmp_path):
    """``nervesim validate --quick``: every case and velocity within the issue's targets."""
    import json

    from nervesim.cli import main

    # dt 0.005 ms keeps it to seconds; the engines agree to rounding at any dt.
    code = main(["validate", "--quick", "--json", "--dt-ms", "0.005", "--plot", str(tmp_path / "v.png")])
    out = json.loads(capsys.readouterr().out)
    summ = out["summary"]
    assert code == 0 and summ["pass"]
    assert summ["neuron_version"].startswith("9.") and summ["dt_ms"] == 0.005
    assert len(out["cases"]) == 3 and len(out["cv"]) == 2
    for case in out["cases"]:
        # The reported comparison itself: rounding-level traces, and identical searches.
        assert case["max_dvm_mV"] < VM_TOL_MV
        assert case["threshold_numba_mA"] == case["threshold_neuron_mA"] and case["threshold_rel_diff"] == 0
        assert case["runs_numba"] == case["runs_neuron"]
    assert summ["max_dvm_mV"] == max(c["max_dvm_mV"] for c in out["cases"])
    for cv in out["cv"]:
        assert cv["cv_rel_diff"] < 1e-12  # crossing times agree to rounding
        assert cv["cv_numba_m_s"] == pytest.approx(cv["cv_neuron_m_s"], rel=1e-12)
    assert (tmp_path / "v.png").stat().st_size > 10_000


def test_repetitive_firing_reports_the_first_ap_time(nrn):
    """A long strong intracellular pulse makes nodes fire repeatedly; both engines report the first AP's
    time (NEURON's APCount.time alone is the last one)."""
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    pulse = nervesim.IntracellularPulse(node=10, amplitude_nA=5.0, delay_ms=0.1, duration_ms=8.0)
    kw = dict(dt_ms=0.005, tstop_ms=9.0, intracellular=pulse)
    ours = nervesim.Stimulation(f, None, None, **kw).run(0.0)
    ref = nrn.NeuronStimulation(f, None, None, **kw).run(0.0)
    assert ours.ap_counts.max() >= 2 and np.array_equal(ours.ap_counts, ref.ap_counts)
    assert np.array_equal(ours.ap_times_ms, ref.ap_times_ms, equal_nan=True)
