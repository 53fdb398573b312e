"""Threshold search: bracketing, tolerance, flags and errors."""
import numpy as np
import pytest

import nervesim
from nervesim.threshold import ThresholdSearchError, find_threshold, search_threshold
from conftest import point_at_centre


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
    with pytest.raises(ThresholdSearchError, match=r"does not fire even at max_mA.*tried"):
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
