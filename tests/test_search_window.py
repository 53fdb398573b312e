"""Activation window (threshold, block onset, re-excitation) of a real fibre, checked against NEURON
and against plain full-length runs."""
import math

import pytest
from conftest import point_at_centre

import nervesim
from nervesim.threshold import activation_window

TOL = 1e-2  # coarse, so the NEURON engine (a Python loop per step) needs few runs


@pytest.fixture(scope="module")
def case():
    """12 um fibre, point source 1 mm over the centre node, sigma 0.2 S/m, 0.5 ms cathodic pulses: the
    issue's virtual-anode block between about 0.8 and 1.5 mA."""
    f = nervesim.build_fibre("mrg-interp", 12.0, 21)
    return f, point_at_centre(f, 1000.0), nervesim.Waveform.monophasic(0.5)


@pytest.fixture(scope="module")
def numba_window(case):
    f, el, w = case
    return activation_window(nervesim.Stimulation(f, el, w, dt_ms=0.005), tolerance=TOL, max_mA=3.0)


def test_window_is_the_same_with_neuron(nrn, case, numba_window):
    f, el, w = case
    ref = activation_window(nrn.NeuronStimulation(f, el, w, dt_ms=0.005), tolerance=TOL, max_mA=3.0)
    ours = numba_window
    # Both engines make the same decision at every amplitude, so every bracket is identical.
    assert ours.threshold.bracket_mA == ref.threshold.bracket_mA
    assert ours.block_bracket_mA == ref.block_bracket_mA is not None
    assert ours.reexcitation_bracket_mA == ref.reexcitation_bracket_mA is not None
    assert 0.7 < ours.block_onset_mA < 0.9 and 1.4 < ours.reexcitation_mA < 1.7  # the window the issue reports


def test_window_agrees_with_full_length_runs(case, numba_window):
    f, el, w = case
    stim = nervesim.Stimulation(f, el, w, dt_ms=0.005)
    win = numba_window
    (t_lo, t_hi), (b_lo, b_hi), (r_lo, r_hi) = win.threshold.bracket_mA, win.block_bracket_mA, \
        win.reexcitation_bracket_mA
    for amp in (t_lo, r_lo, math.sqrt(b_hi * r_lo)):
        run = stim.run(amp)  # no early exit: decided over the whole tstop
        assert not run.fired
    for amp in (t_hi, b_lo, math.sqrt(t_hi * b_lo), r_hi, 1.5 * r_hi):
        assert stim.run(amp).fired
    blocked = stim.run(b_hi)
    assert not blocked.fired and blocked.ap_counts[f.centre_node] > 0  # excited, AP blocked
    for lo, hi in ((t_lo, t_hi), (b_lo, b_hi), (r_lo, r_hi)):
        assert 0 < (hi - lo) / hi <= TOL


def test_no_block_below_max_is_reported_as_none(case):
    f, el, _ = case
    w = nervesim.Waveform.monophasic(0.1)
    win = activation_window(nervesim.Stimulation(f, el, w, dt_ms=0.005), tolerance=TOL, max_mA=0.6)
    assert win.block_onset_mA is None and win.block_bracket_mA is None and win.reexcitation_mA is None
    assert win.scanned_to_mA == 0.6
    assert nervesim.Stimulation(f, el, w, dt_ms=0.005).run(0.6).fired
