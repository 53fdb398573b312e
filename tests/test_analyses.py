"""Strength-duration, threshold curves, recruitment and kHz block on real simulations."""
import numpy as np
import pytest
from conftest import point_at_centre, require

import nervesim
from nervesim.analyses import (
    FibrePopulation,
    block_threshold,
    fit_lapicque,
    fit_weiss,
    plot_recruitment,
    plot_sd_curve,
    recruitment,
    strength_duration,
    threshold_vs_diameter,
    threshold_vs_distance,
)
from nervesim.errors import ParameterError
from nervesim.threshold import find_threshold, search_threshold


def test_fits_recover_known_laws():
    w = np.array([0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
    weiss = fit_weiss(w, 0.05 * (1 + 0.12 / w))
    assert (weiss.rheobase_mA, weiss.chronaxie_ms) == pytest.approx((0.05, 0.12), rel=1e-10)
    lap = fit_lapicque(w, 0.05 / (1 - np.exp(-w * np.log(2) / 0.3)))
    assert (lap.rheobase_mA, lap.chronaxie_ms) == pytest.approx((0.05, 0.3), rel=1e-6)


@pytest.mark.parametrize("fit", [fit_weiss, fit_lapicque])
def test_degenerate_fits_are_refused(fit):
    # before: three copies of one width gave chronaxie 10 ms (Weiss) / 95 ms (Lapicque) with 0.00 % rms error
    with pytest.raises(ParameterError, match="three distinct") as exc:
        fit([0.1, 0.1, 0.1], [0.12, 0.12, 0.12])
    assert exc.value.parameter == "widths_ms"
    w = [0.05, 0.1, 0.2, 0.5]
    for flat_or_rising in ([0.3, 0.3, 0.3, 0.3], [0.1, 0.2, 0.3, 0.4]):  # no strength-duration curve
        with pytest.raises(ParameterError, match="do not fall with pulse width") as exc:
            fit(w, flat_or_rising)
        assert exc.value.parameter == "thresholds_mA"
    with pytest.raises(ParameterError, match="positive"):
        fit(w, [0.3, 0.2, -0.1, 0.1])


def no_simulation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("simulated before the input was checked")
    monkeypatch.setattr(nervesim.Stimulation, "run_many", refuse)
    monkeypatch.setattr(nervesim.Stimulation, "run", refuse)


@pytest.mark.parametrize("widths, says", [([0.1, 0.1, 0.1], "given more than once"),
                                          ([0.1, 0.2, 0.1, 0.5], "given more than once"),
                                          ([0.1, 0.2], "three distinct"), ([0.1, 0.2, -0.1], "positive"),
                                          ([0.1, 0.2, 0.0051], "not a multiple of dt_ms")])
def test_strength_duration_input_checked_before_any_threshold(fibre10, monkeypatch, widths, says):
    no_simulation(monkeypatch)
    with pytest.raises(ParameterError, match=says):
        strength_duration("mrg-interp", 10.0, point_at_centre(fibre10, 1000.0), widths, dt_ms=0.005)


def test_strength_duration_far_above_chronaxie_is_refused():
    # 2-4 ms pulses on a 10 um fibre (chronaxie ~0.1 ms): thresholds differ by ~2.5 %, within 10 search tolerances
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    with pytest.raises(ParameterError, match="do not determine a chronaxie") as exc:
        strength_duration("mrg-interp", 10.0, point_at_centre(f, 1000.0), [2.0, 3.0, 4.0], n_nodes=21, dt_ms=0.005,
                          tolerance=0.05)
    assert exc.value.parameter == "widths_ms"


def test_strength_duration_curve_matches_neuron(tmp_path):
    """The same SD points run in NEURON (the reference implementation) give the same thresholds and fits."""
    nrn = require("nervesim.neuron")
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    el = point_at_centre(f, 1000.0)
    widths = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    sd = strength_duration("mrg-interp", 10.0, el, widths, n_nodes=21, dt_ms=0.005, threads=2)
    ref = [search_threshold(nrn.NeuronStimulation(f, el, nervesim.Waveform.monophasic(w), dt_ms=0.005),
                            tolerance=1e-3).threshold_mA for w in widths]
    # Same equations, same search: identical brackets unless a probe falls within rounding of threshold.
    assert sd.thresholds_mA == pytest.approx(ref, rel=1e-9)
    assert sd.weiss.chronaxie_ms == pytest.approx(fit_weiss(widths, ref).chronaxie_ms, rel=1e-6)
    assert sd.lapicque.chronaxie_ms == pytest.approx(fit_lapicque(widths, ref).chronaxie_ms, rel=1e-6)
    assert np.all(np.diff(sd.thresholds_mA) < 0) and sd.rheobase_mA < sd.thresholds_mA.min()
    plot_sd_curve(sd, tmp_path / "sd.png")
    assert (tmp_path / "sd.png").stat().st_size > 5000


def test_threshold_curves():
    w = nervesim.Waveform.monophasic(0.1)
    dist = threshold_vs_distance("mrg-interp", 8.0, [300.0, 600.0, 1200.0], w, n_nodes=21, dt_ms=0.005, threads=1)
    diam = threshold_vs_diameter("mrg-interp", [3.0, 6.0, 12.0], 1000.0, w, n_nodes=21, dt_ms=0.005, threads=1)
    # Independent: each point as a single search with the source placed by hand.
    for curve, cases in ((dist, [(8.0, r) for r in (300.0, 600.0, 1200.0)]),
                         (diam, [(d, 1000.0) for d in (3.0, 6.0, 12.0)])):
        for t, (d, r) in zip(curve.thresholds_mA, cases):
            f = nervesim.build_fibre("mrg-interp", d, 21)
            assert t == find_threshold(f, point_at_centre(f, r), w, dt_ms=0.005).threshold_mA
    assert np.all(np.diff(dist.thresholds_mA) > 0)
    assert np.all(np.diff(diam.thresholds_mA) < 0)  # larger fibres are easier to excite


def test_threshold_curve_source_inside_the_fibre(monkeypatch):
    no_simulation(monkeypatch)
    with pytest.raises(ParameterError, match="inside the 8 um fibre") as exc:
        threshold_vs_distance("mrg-interp", 8.0, [300.0, 3.0], nervesim.Waveform.monophasic(0.1), dt_ms=0.005)
    assert exc.value.parameter == "distances_um"


CUFF_NERVE_UM = 2000.0


def test_recruitment_thresholds_and_fractions_from_single_fibres(tmp_path):
    pop = FibrePopulation.uniform(5, CUFF_NERVE_UM, (4.0, 10.0), seed=3)
    cuff = nervesim.Electrode.cuff("livanova2000", CUFF_NERVE_UM, z_um=0.0)
    wave = nervesim.Waveform.biphasic(0.25)
    rec = recruitment("mrg-interp", pop, cuff, wave, n_nodes=31, dt_ms=0.005, threads=2, warm_start=False)
    assert not rec.errors
    # Independent: each fibre alone on the z axis, its cuff built around it (nerve axis at minus its position,
    # centred over its centre node shifted by its node phase).
    single = []
    for x, y, d, phase in zip(pop.x_um, pop.y_um, pop.diameter_um, pop.z_offset_um):
        f = nervesim.build_fibre("mrg-interp", d, 31)
        z = f.node_z_um[f.centre_node] - phase * f.geometry["deltax_um"]
        el = nervesim.Electrode.cuff("livanova2000", CUFF_NERVE_UM, z_um=z, x_um=-x, y_um=-y)
        single.append(find_threshold(f, el, wave, dt_ms=0.005, max_mA=50.0).threshold_mA)
    assert rec.thresholds_mA == pytest.approx(single, rel=1e-12)
    # Between the k-th and (k+1)-th lowest threshold exactly k of the 5 fibres are active.
    s = np.sort(single)
    between = np.concatenate([[s[0] / 2], (s[:-1] + s[1:]) / 2, [2 * s[-1]]])
    assert rec.fraction_at(between) == pytest.approx(np.arange(6) / 5, abs=0)
    # The default currents show the onset and saturation: 0 % first, 100 % last.
    assert rec.fraction[0] == 0.0 and rec.fraction[-1] == 1.0 and np.all(np.diff(rec.fraction) >= 0)
    plot_recruitment(rec, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_recruitment_refuses_a_fibre_outside_the_cuffed_nerve(monkeypatch):
    no_simulation(monkeypatch)
    pop = FibrePopulation(np.array([0.0, 998.0]), np.array([0.0, 0.0]), np.array([4.0, 6.0]))
    cuff = nervesim.Electrode.cuff("livanova2000", CUFF_NERVE_UM, z_um=0.0)
    with pytest.raises(ParameterError, match=r"fibre 1: .*2000 um nerve \(radius 1000 um\)") as exc:
        recruitment("mrg-interp", pop, cuff, nervesim.Waveform.biphasic(0.25), [1.0], dt_ms=0.005)
    assert exc.value.parameter == "x_um"


def test_recruitment_refuses_a_point_source_inside_a_fibre(monkeypatch):
    no_simulation(monkeypatch)
    pop = FibrePopulation(np.array([0.0, 500.0]), np.array([0.0, 0.0]), np.array([4.0, 6.0]))
    electrode = nervesim.Electrode.point(502.0, 0.0, 0.0, 0.2)  # 2 um from fibre 1's axis, inside its 3 um radius
    with pytest.raises(ParameterError, match="fibre 1: electrode source at x=2, y=0 um is inside") as exc:
        recruitment("mrg-interp", pop, electrode, nervesim.Waveform.biphasic(0.25), [1.0], dt_ms=0.005)
    assert exc.value.parameter == "electrode"


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(n=0), "n"), (dict(diameters_um=(10.0, 2.0)), "diameters_um"), (dict(nerve_diameter_um=30.0),
                                                                         "nerve_diameter_um"),
    (dict(margin_um=2.0), "margin_um"), (dict(seed=-1), "seed")])
def test_uniform_population_input(kwargs, parameter):
    args = dict(n=10, nerve_diameter_um=2000.0, diameters_um=(2.0, 10.0)) | kwargs
    with pytest.raises(ParameterError) as exc:
        FibrePopulation.uniform(**args)
    assert exc.value.parameter == parameter


def test_uniform_population_lies_inside_the_nerve():
    # Fibres up to 60 um: the default margin grows to their radius so each lies wholly inside.
    pop = FibrePopulation.uniform(2000, 400.0, (40.0, 60.0), seed=1)
    assert np.max(np.hypot(pop.x_um, pop.y_um) + pop.diameter_um / 2) <= 200.0


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


def test_khz_block_in_the_fast_mode():
    """Without NEURON's outer layer (MRG traces within 4e-7 mV of NEURON's, tests/test_fast.py) every run of
    the bisection has the same outcome, so the bracket is the exact engine's."""
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    el = point_at_centre(f, 1000.0)
    exact, fast = (block_threshold(f, el, 10.0, fast=x) for x in (False, True))
    assert fast.fast and not exact.fast
    assert fast.bracket_mA == exact.bracket_mA and fast.n_runs == exact.n_runs


@pytest.mark.parametrize("frequency_khz, says", [
    (3.0, "0.1667 ms, not a whole number of dt_ms=0.005 ms steps; use 2.941 or 3.03 kHz"),
    (0.001, "must lie in 0.06667-100 kHz"), (150.0, "must lie in 0.06667-100 kHz"), (0.0, "positive")])
def test_block_frequency_checked_before_any_run(monkeypatch, frequency_khz, says):
    # before: 3 kHz named --width-ms/--gap-ms (block has neither), 0.001 kHz said "n_pulses=0"
    no_simulation(monkeypatch)
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    with pytest.raises(ParameterError, match=says.replace("(", r"\(").replace(".", r"\.")) as exc:
        block_threshold(f, point_at_centre(f, 1000.0), frequency_khz)
    assert exc.value.parameter == "frequency_khz"
