"""Threshold search: bracketing, tolerance, flags and errors."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import point_at_centre, require_pyfibers

import nervesim
from nervesim.simulation import decayed
from nervesim.threshold import ThresholdSearchError, find_threshold, search_threshold


def test_threshold_is_bracketed_to_tolerance(fibre10):
    el, w = point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(0.1)
    res = find_threshold(fibre10, el, w, tolerance=1e-3)
    sub, supra = res.bracket_mA
    assert supra == res.threshold_mA and (supra - sub) / supra <= 1e-3
    stim = nervesim.Stimulation(fibre10, el, w)
    assert stim.run(supra).fired and not stim.run(sub).fired  # full-length runs confirm both ends
    assert res.n_runs == len(res.runs) and res.flags == ()
    assert res.initiation_node == fibre10.centre_node
    assert 0 < res.latency_ms < res.detection_time_ms < stim.tstop_ms


def test_tighter_tolerance_narrows_bracket(fibre10):
    el, w = point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(0.1)
    coarse = find_threshold(fibre10, el, w, tolerance=1e-2)
    fine = find_threshold(fibre10, el, w, tolerance=1e-4)
    assert fine.bracket_mA[0] >= coarse.bracket_mA[0] - 1e-12 and fine.threshold_mA <= coarse.threshold_mA
    assert (fine.bracket_mA[1] - fine.bracket_mA[0]) / fine.threshold_mA <= 1e-4


def test_no_bracket_raises_with_what_was_tried(fibre10):
    with pytest.raises(ThresholdSearchError, match=r"stays silent .* up to max_mA .*tried.*0.05-"):
        find_threshold(fibre10, point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(0.1), max_mA=0.05)


def test_fires_at_min_raises(fibre10):
    with pytest.raises(ThresholdSearchError, match="min_mA"):
        find_threshold(fibre10, point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(0.1),
                       min_mA=0.5, start_mA=1.0)


def test_block_above_threshold_is_flagged_non_monotonic(fibre10):
    # 1 mA at 0.5 mm excites the centre node but the AP is blocked under the virtual anodes.
    el, w = point_at_centre(fibre10, 500.0), nervesim.Waveform.monophasic(0.1)
    res = find_threshold(fibre10, el, w, start_mA=1.0)
    assert any(f.startswith("non_monotonic") for f in res.flags)
    assert any(f.startswith("ap_not_detected") for f in res.flags)
    assert res.threshold_mA < 0.1
    assert res.threshold_mA == pytest.approx(find_threshold(fibre10, el, w).threshold_mA, rel=1e-3)


def test_end_excitation_is_flagged():
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    el = nervesim.Electrode.point(300.0, 0.0, f.node_z_um[1], 0.2)
    res = find_threshold(f, el, nervesim.Waveform.monophasic(0.1))
    assert res.initiation_node <= 2
    assert any(flag.startswith("end_excitation") for flag in res.flags)


@pytest.mark.parametrize("kwargs, match", [({"tolerance": 0}, "tolerance"), ({"tolerance": 2}, "tolerance"),
                                           ({"max_mA": float("nan")}, "max_mA"), ({"start_mA": -1}, "start_mA")])
def test_bad_search_arguments(fibre10, kwargs, match):
    with pytest.raises(ValueError, match=match):
        find_threshold(fibre10, point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(0.1), **kwargs)


def test_tstop_shorter_than_pulse_is_an_error(fibre10):
    with pytest.raises(ValueError, match="tstop_ms"):
        nervesim.Stimulation(fibre10, point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(1.0),
                             tstop_ms=0.5)


class FullLength:
    """The Numba engine with early exit switched off: every run lasts tstop."""

    def __init__(self, stim):
        self.stim, self.fibre, self.ve_mV, self.wave = stim, stim.fibre, stim.ve_mV, stim.wave

    def run_many(self, amplitudes_mA, *, early_exit=True):
        return [self.stim.run(a) for a in amplitudes_mA]


@pytest.mark.parametrize("model, D, distance_um, pulse", [
    ("mrg-interp", 2.0, 500.0, "mono"), ("mrg-interp", 5.7, 2000.0, "anodic"), ("mrg-interp", 10.0, 1000.0, "bi"),
    ("mrg-interp", 16.0, 500.0, "long"), ("mrg-small", 1.5, 1000.0, "mono"), ("mrg-discrete", 8.7, 2000.0, "bi"),
    ("sundt", 1.0, 500.0, "anodic"), ("tigerholm", 0.8, 100.0, "bi"),
])
def test_early_exit_never_changes_a_threshold(model, D, distance_um, pulse):
    f = nervesim.build_fibre(model, D, 51 if model.startswith("mrg") else None)
    w = {"mono": nervesim.Waveform.monophasic(0.1), "anodic": nervesim.Waveform.monophasic(0.1, "anodic"),
         "bi": nervesim.Waveform.biphasic(0.1, gap_ms=0.05), "long": nervesim.Waveform.monophasic(0.5)}[pulse]
    stim = nervesim.Stimulation(f, point_at_centre(f, distance_um), w, dt_ms=0.005)
    fast = search_threshold(stim, tolerance=1e-4)
    full = search_threshold(FullLength(stim), tolerance=1e-4)
    assert fast.runs == full.runs  # the same decision at every amplitude, so the same threshold
    assert fast.threshold_mA == full.threshold_mA
    # The early-exited sub-threshold run at the bracket is the closest call of all.
    close = stim.run(fast.bracket_mA[0], early_exit=True)
    assert not close.fired and close.steps_run < stim.n_steps


@pytest.mark.parametrize("amplitude_mA", [0.06, 0.123383])
def test_decayed_response_test_is_the_kernels(amplitude_mA):
    """`nervesim.neuron` applies `decayed` to sampled steps: it must be the rule the kernels apply at every step.

    0.123383 mA is the closest sub-threshold run of the README case (threshold 0.123486 mA at dt 0.005 ms); it
    ends while its centre node is still ~4 mV up and falling back, which the rule lets through.
    """
    f = nervesim.build_fibre("mrg-interp", 10.0, 51)
    stim = nervesim.Stimulation(f, point_at_centre(f, 1000.0), nervesim.Waveform.monophasic(0.1), dt_ms=0.005)
    run = stim.run(amplitude_mA, record_nodes=range(f.n_nodes), early_exit=True)
    v = run.vm_mV
    assert not run.fired and run.steps_run < stim.n_steps
    ends = [k for k in range(stim.quiet_after_step + 1, run.steps_run + 1)
            if decayed(v[:, k] - v[:, 0], v[:, k] - v[:, k - 1], stim.dt_ms)]
    assert ends == [run.steps_run]
    if amplitude_mA > 0.1:
        assert np.abs(v[:, -1] - v[:, 0]).max() > 3.0


def test_probes_per_round_agree_within_tolerance(fibre10):
    el, w = point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(0.1)
    stim = nervesim.Stimulation(fibre10, el, w, dt_ms=0.005)
    results = [search_threshold(stim, tolerance=1e-3, probes=p) for p in (1, 2, 4)]
    lows = max(r.bracket_mA[0] for r in results)
    highs = min(r.bracket_mA[1] for r in results)
    assert lows < highs  # all brackets overlap: each contains the true threshold
    for r in results:
        assert (r.bracket_mA[1] - r.bracket_mA[0]) / r.bracket_mA[1] <= 1e-3


def test_end_node_crossing_in_the_initiation_step_is_flagged():
    # Over node 1 of a 21-node 10 um fibre at 1.2 mm, node 2's interpolated crossing is 0.14 us earlier
    # than node 1's, but both cross in the same 5 us step: which one started the AP is not resolved.
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    el, w = nervesim.Electrode.point(1200.0, 0.0, f.node_z_um[1], 0.2), nervesim.Waveform.monophasic(0.1)
    res = find_threshold(f, el, w, dt_ms=0.005)
    run = nervesim.Stimulation(f, el, w, dt_ms=0.005).run(res.threshold_mA)
    assert res.initiation_node == run.initiation_node == 2
    assert run.ap_times_ms[1] == run.ap_times_ms[2] and run.crossing_ms[2] < run.crossing_ms[1]
    assert 1 in run.first_step_nodes and run.end_excitation
    assert any(flag.startswith("end_excitation: node(s) 1 ") for flag in res.flags)
    centre = find_threshold(f, point_at_centre(f, 1200.0), w, dt_ms=0.005)
    assert centre.initiation_node == f.centre_node and centre.flags == ()


@pytest.mark.parametrize("D, distance_um, n_nodes, short", [(10.0, 2000.0, 13, True), (16.0, 1000.0, 13, True),
                                                            (10.0, 1000.0, 51, False)])
def test_short_fibre_flag_marks_thresholds_shifted_by_the_cut(D, distance_um, n_nodes, short):
    w = nervesim.Waveform.monophasic(0.1)
    thresholds = {}
    for n in (n_nodes, 151):
        f = nervesim.build_fibre("mrg-interp", D, n)
        thresholds[n] = find_threshold(f, point_at_centre(f, distance_um), w, dt_ms=0.005, tolerance=1e-4)
    shift = abs(thresholds[n_nodes].threshold_mA / thresholds[151].threshold_mA - 1)
    flagged = any(flag.startswith("short_fibre") for flag in thresholds[n_nodes].flags)
    assert flagged is short
    assert shift > 0.01 if short else shift < 1e-3  # the long fibre is the reference
    assert not any(flag.startswith("short_fibre") for flag in thresholds[151].flags)


def test_huge_potentials_say_excited_not_detected_not_fires():
    # sigma 1e-12 S/m: even min_mA drives every node far past -30 mV, but no AP reaches the detection node.
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    el = nervesim.Electrode.point(1000.0, 0.0, f.node_z_um[f.centre_node], 1e-12)
    with pytest.raises(ThresholdSearchError, match=r"excited but the AP is not detected .*even at min_mA") as info:
        find_threshold(f, el, nervesim.Waveform.monophasic(0.1), dt_ms=0.005)
    assert "fires" not in str(info.value) and "1e-06~" in str(info.value)
    assert {o for _, o in info.value.runs} == {"excited"}


def test_result_reprs_are_one_short_line(fibre10):
    res = find_threshold(fibre10, point_at_centre(fibre10, 1000.0), nervesim.Waveform.monophasic(0.1), dt_ms=0.005)
    text = repr(res)
    assert "\n" not in text and len(text) < 250 and f"{res.threshold_mA:.6g}" in text and "flags: none" in text


#: PyFibers' own fibre and search on a 21-node 10 um fibre, point source 1.2 mm from node ``node`` (run in a
#: child process: importing pyfibers loads its mechanisms into NEURON). PyFibers raises on end excitation.
PYFIBERS_END_CASE = textwrap.dedent("""
    import json
    from pyfibers import FiberModel, ScaledStim, build_fiber
    fiber = build_fiber(FiberModel.MRG_INTERPOLATION, diameter=10, n_nodes=21)
    z = float(fiber.longitudinal_coordinates[11 * {node}])  # 11 sections per period
    fiber.potentials = fiber.point_source_potentials(1200.0, 0.0, z, 1.0, 0.2)
    stim = ScaledStim(waveform=lambda t: 1.0 if t < 0.1 - 0.0025 else 0.0, dt=0.005, tstop=5.1)
    try:
        amp, _ = stim.find_threshold(fiber, termination_tolerance=0.1)
        print(json.dumps({{"threshold_mA": -amp}}))
    except RuntimeError as exc:
        print(json.dumps({{"error": str(exc)}}))
""")


@pytest.mark.parametrize("node", [1, 10])
def test_end_excitation_flag_agrees_with_pyfibers(node):
    require_pyfibers()
    proc = subprocess.run([sys.executable, "-c", PYFIBERS_END_CASE.format(node=node)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    ref = json.loads(proc.stdout.strip().splitlines()[-1])
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    res = find_threshold(f, nervesim.Electrode.point(1200.0, 0.0, f.node_z_um[node], 0.2),
                         nervesim.Waveform.monophasic(0.1), dt_ms=0.005)
    flagged = any(flag.startswith("end_excitation") for flag in res.flags)
    assert flagged == ("error" in ref)
    if flagged:
        assert "End excitation detected on fiber.nodes[1]" in ref["error"]
    else:  # independent implementations: 0.1 % search tolerance on each side
        assert res.threshold_mA == pytest.approx(ref["threshold_mA"], rel=2e-3)
