"""Strength-duration, threshold curves, recruitment and kHz block on real simulations."""
import numpy as np
import pytest

import nervesim
from nervesim.analyses import (FibrePopulation, block_threshold, fit_lapicque, fit_weiss, plot_recruitment,
                               plot_sd_curve, recruitment, strength_duration, threshold_vs_diameter,
                               threshold_vs_distance)
from conftest import point_at_centre


def test_fits_recover_known_laws():
    w = np.array([0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
    weiss = fit_weiss(w, 0.05 * (1 + 0.12 / w))
    assert (weiss.rheobase_mA, weiss.chronaxie_ms) == pytest.approx((0.05, 0.12), rel=1e-10)
    lap = fit_lapicque(w, 0.05 / (1 - np.exp(-w * np.log(2) / 0.3)))
    assert (lap.rheobase_mA, lap.chronaxie_ms) == pytest.approx((0.05, 0.3), rel=1e-6)


def test_strength_duration_curve(fibre10, tmp_path):
    sd = strength_duration("mrg-interp", 10.0, point_at_centre(fibre10, 1000.0),
                           [0.02, 0.05, 0.1, 0.2, 0.5, 1.0], dt_ms=0.005, threads=2)
    assert np.all(np.diff(sd.thresholds_mA) < 0)  # monotone: longer pulses need less current
    assert sd.rheobase_mA < sd.thresholds_mA.min()
    # Chronaxie of large myelinated axons: 30-200 µs (Ranck 1975, Brain Res 98:417).
    assert 0.03 <= sd.chronaxie_ms <= 0.2
    assert sd.best.rms_rel_error < 0.1
    plot_sd_curve(sd, tmp_path / "sd.png")
    assert (tmp_path / "sd.png").stat().st_size > 5000


def test_threshold_curves():
    w = nervesim.Waveform.monophasic(0.1)
    dist = threshold_vs_distance("mrg-interp", 8.0, [300.0, 600.0, 1200.0], w, dt_ms=0.005, threads=1)
    assert np.all(np.diff(dist.thresholds_mA) > 0)
    diam = threshold_vs_diameter("mrg-interp", [3.0, 6.0, 12.0], 1000.0, w, dt_ms=0.005, threads=1)
    assert np.all(np.diff(diam.thresholds_mA) < 0)  # larger fibres are easier to excite


def test_recruitment_is_monotone_in_current(tmp_path):
    pop = FibrePopulation.uniform(12, 2000.0, (2.0, 10.0), seed=3)
    cuff = nervesim.Electrode.cuff("livanova2000", 2000.0, z_um=0.0)
    rec = recruitment("mrg-interp", pop, cuff, nervesim.Waveform.biphasic(0.25), np.linspace(0.05, 3.5, 30),
                      n_nodes=31, dt_ms=0.005, threads=2)
    assert np.all(np.diff(rec.fraction) >= 0)
    assert rec.fraction[0] < 1 and rec.fraction[-1] == 1.0
    assert not rec.errors
    # Each fibre's threshold is where it joins: fractions are the empirical CDF of thresholds.
    assert rec.fraction == pytest.approx([np.mean(rec.thresholds_mA <= c) for c in rec.currents_mA])
    plot_recruitment(rec, tmp_path / "r.png")


def test_khz_block_is_block_not_onset_firing():
    f = nervesim.build_fibre("mrg-interp", 10.0, 51)
    el = point_at_centre(f, 1000.0)
    res = block_threshold(f, el, 10.0)
    lo, hi = res.bracket_mA
    assert (hi - lo) / hi <= 1e-2 and res.block_threshold_mA == hi
    # Just below: the test AP passes; at the threshold it is launched but never reaches the far end.
    wave = nervesim.Waveform.biphasic(0.05).train(10000.0, n_pulses=250)
    test = nervesim.IntracellularPulse(1, 2.0, 15.0, 0.1)
    stim = nervesim.Stimulation(f, el, wave, dt_ms=0.005, tstop_ms=25.0, intracellular=test)
    det = f.detection_node

    def crossings(amp, node):
        v = stim.run(amp, record_nodes=[node]).vm_mV[0]
        return np.flatnonzero((v[1:] >= -30) & (v[:-1] < -30)) * 0.005

    assert np.any(crossings(lo, det) >= 15.0)
    assert not np.any(crossings(hi, det) >= 15.0) and np.any(crossings(hi, 2) >= 15.0)
