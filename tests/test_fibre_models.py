"""Non-MRG fibre models (Sundt, Rattay, Sweeney) against independent references: the values PyFibers 0.13 and
NEURON 9 give (fibre-models.md §9), our NEURON build of the NMODL generated from the same mechanism files, and
PyFibers' own models and threshold search."""
import math

import numpy as np
import pytest
from conftest import digits, require, require_pyfibers, rest_section

import nervesim
from nervesim.errors import ParameterError
from nervesim.threshold import search_threshold

#: §9.1: gates right after initialisation at v_rest, 37 °C, and the ion currents (mA/cm²).
REST = {
    "sundt": (1.0, {"nahh.m": 0.0117547, "nahh.h": 0.936692, "borgkdr.n": 0.00528587, "borgkdr.l": 0.481304},
              {"ina": -6.69399e-6, "ik": 8.5300e-8}),
    "rattay": (1.0, {"rattay.m": 0.0529325, "rattay.h": 0.596121, "rattay.n": 0.317677},
               {"ina": -1.22006e-3, "ik": 4.39973e-3}),
    "sweeney": (10.0, {"sweeney.m": 0.00331019, "sweeney.h": 0.750260}, {"ina": -1.37371e-3}),
}
#: §9.3: centre-node V (mV) at t = 0 after the 40 x 5 ms pre-run, 11 nodes.
V_START = {"sundt": -59.931126, "rattay": -69.999718, "sweeney": -79.999265}


@pytest.mark.parametrize("model", sorted(REST))
def test_gates_and_currents_at_rest(model):
    diameter, gates, currents = REST[model]
    st, lay, _ = rest_section(model, diameter)
    for name, value in {**gates, **currents}.items():
        assert st[lay["st"][name]] == pytest.approx(value, abs=digits(value)), name


@pytest.mark.parametrize("model", sorted(V_START))
def test_potential_after_the_prerun(model):
    fibre = nervesim.build_fibre(model, REST[model][0], 11)
    run = nervesim.simulate(fibre, None, None, 0.0, dt_ms=0.001, tstop_ms=0.01, record_nodes=[5])
    assert run.vm_mV[0, 0] == pytest.approx(V_START[model], abs=1e-6)


def test_rattay_table_is_neurons(nrn):
    """Gates come from NEURON's TABLE (1 mV steps, linear interpolation), not the formulas: at 37 °C the two
    differ by up to 0.2 % in m_inf, more than the 0.1 % thresholds are compared at."""
    from neuron import h

    nrn.load_mechanisms()
    sec = h.Section(name="rattay_table")
    sec.insert("nsim_rattay")
    h.celsius = 37.0
    h.finitialize(-70.0)
    mem = nervesim.load_model("rattay").membrane
    kernels, lay = mem.kernels(), mem.layout()
    par = mem.parameter_vector(1.0, 37.0)
    st = np.zeros(lay["n_st"])
    out = np.zeros(len(lay["rates"]))
    names = [n.split(".")[1] for n in lay["rates"]]
    worst = 0.0
    for v in np.concatenate([np.linspace(-120.0, 120.0, 961), [-100.0, 100.0, -69.5, 0.25]]):
        sec(0.5).nsim_rattay.rates(v)
        kernels.membrane_rates(v, st, par, 37.0, out)
        ref = np.array([getattr(h, f"{n}_nsim_rattay") for n in names])
        assert np.allclose(out, ref, rtol=1e-13, atol=0), v
        u = v + 70.0
        if abs(2.5 - 0.1 * u) < 1e-6:
            continue
        am = (2.5 - 0.1 * u) / math.expm1(2.5 - 0.1 * u)
        exact = am / (am + 4.0 * math.exp(-u / 18.0))
        worst = max(worst, abs(out[names.index("m_inf")] / exact - 1.0))
    assert worst > 1e-3  # the table, not the formula


#: Our NEURON build of the same NMODL: (model, D µm, sections or nodes, source distance µm, pulse ms, polarity,
#: Vm tolerance mV). Rounding gives 1e-10 to 3e-7 mV; where Ca follows derivimplicit, NEURON's Newton stops at
#: 1e-6 relative and ours at machine precision, hence 1e-5.
NEURON_CASES = [("sundt", 1.0, 61, 250.0, 0.1, "cathodic", 1e-6), ("rattay", 0.5, 61, 500.0, 0.5, "cathodic", 1e-6),
                ("sweeney", 10.0, 15, 500.0, 0.1, "cathodic", 1e-6),
                ("schild94", 1.0, 61, 250.0, 0.1, "cathodic", 1e-5),
                ("schild97", 2.0, 61, 500.0, 0.5, "cathodic", 1e-5),
                ("thio-autonomic", 1.0, 133, 250.0, 0.1, "anodic", 1e-5),
                ("thio-cutaneous", 1.0, 133, 250.0, 1.0, "cathodic", 1e-5)]


@pytest.mark.parametrize("model, diameter_um, n_nodes, distance_um, width_ms, polarity, vm_tol_mV", NEURON_CASES)
def test_neuron_same_traces_and_threshold(nrn, model, diameter_um, n_nodes, distance_um, width_ms, polarity,
                                          vm_tol_mV):
    """Same search decisions, same bracket, then Vm 5 % above and below threshold (concentrations, pumps and
    derivimplicit Ca all moving) equal up to rounding."""
    f = nervesim.build_fibre(model, diameter_um, n_nodes)
    el = nervesim.Electrode.point(0.0, distance_um, f.node_z_um[f.centre_node], 0.2)
    w = nervesim.Waveform.monophasic(width_ms, polarity)
    ours = nervesim.Stimulation(f, el, w, dt_ms=0.005)
    ref = nrn.NeuronStimulation(f, el, w, dt_ms=0.005)
    a, b = search_threshold(ours, tolerance=1e-3), search_threshold(ref, tolerance=1e-3)
    assert a.runs == b.runs and a.bracket_mA == b.bracket_mA
    nodes = [1, f.centre_node, f.detection_node, f.n_nodes - 2]
    for amp, fires in ((1.05 * a.threshold_mA, True), (0.95 * a.threshold_mA, False)):
        x, y = ours.run(amp, record_nodes=nodes), ref.run(amp, record_nodes=nodes)
        assert x.fired is y.fired is fires
        assert np.abs(x.vm_mV - y.vm_mV).max() < vm_tol_mV


#: (model, diameter µm, PyFibers n_nodes, source y µm, phases): one case per model, short fibres and dt 0.005 ms
#: so that PyFibers' search takes seconds.
PYFIBERS_CASES = [("sundt", 1.0, 265, 100.0, ((0.1, -1.0),)), ("rattay", 1.0, 61, 500.0, ((0.2, 1.0),)),
                  ("sweeney", 10.0, 21, 1000.0, ((0.1, -1.0), (0.1, 1.0)))]


def test_thresholds_equal_pyfibers():
    """PyFibers builds the same fibres with its own mechanisms and searches with its own algorithm. Its early
    exit (5 ms after the top run's AP) is off: it counts slow near-threshold APs as failures."""
    require_pyfibers()
    ref_mod = require("nervesim.pyfibers_ref")
    ours, cases = [], []
    for model, d, n, y, phases in PYFIBERS_CASES:
        f = nervesim.build_fibre(model, d, n)
        el = nervesim.Electrode.point(0.0, y, f.node_z_um[f.centre_node], 0.2)
        polarity = "cathodic" if phases[0][1] < 0 else "anodic"
        w = (nervesim.Waveform.monophasic(phases[0][0], polarity) if len(phases) == 1
             else nervesim.Waveform.biphasic(phases[0][0], polarity))
        stim = nervesim.Stimulation(f, el, w, dt_ms=0.005)
        r = search_threshold(stim, tolerance=1e-4)
        ours.append(r)
        cases.append(ref_mod.PyFibersCase(
            model=model, diameter_um=d, n_nodes=n, x_um=0.0, y_um=y, waveform=phases, dt_ms=0.005,
            tstop_ms=stim.tstop_ms, stimamp_top_mA=1.2 * r.threshold_mA, stimamp_bottom_mA=0.8 * r.threshold_mA,
            exit_t_shift_ms=None))
    for r, p in zip(ours, ref_mod.pyfibers_thresholds(cases, timeout_s=600)):
        assert p.error is None, p.error
        assert r.threshold_mA == pytest.approx(p.threshold_mA, rel=1e-3)  # measured: equal to 1e-16


def test_default_run_follows_conduction(monkeypatch):
    """A 0.2 um Sundt fibre conducts at 0.22 m/s: near threshold its AP reaches the detection node ~10 ms
    after a 1 ms pulse, long after MRG's 5 ms margin; the default tstop waits for it. A run cut short with the
    AP under way is never counted as sub-threshold: it is repeated with a longer tstop, and flagged."""
    f = nervesim.build_fibre("sundt", 0.2, 265)
    el = nervesim.Electrode.point(0.0, 1000.0, f.node_z_um[f.centre_node], 0.2)
    w = nervesim.Waveform.monophasic(1.0)
    res = nervesim.find_threshold(f, el, w, dt_ms=0.005, tolerance=1e-2)
    assert res.detection_time_ms > 1.0 + 5.0 and not any(x.startswith("long_run") for x in res.flags)
    short = nervesim.find_threshold(f, el, w, dt_ms=0.005, tolerance=1e-2, tstop_ms=res.detection_time_ms - 1.0)
    assert short.bracket_mA == res.bracket_mA
    assert any(x.startswith("long_run") for x in short.flags)
    monkeypatch.setattr(nervesim.threshold, "MAX_EXTENSIONS", 0)  # without repeats: refused, never sub-threshold
    with pytest.raises(ParameterError) as err:
        nervesim.find_threshold(f, el, w, dt_ms=0.005, tolerance=1e-2, tstop_ms=res.detection_time_ms - 1.0)
    assert err.value.parameter == "tstop_ms" and "under way" in str(err.value)


def test_unmyelinated_geometry_follows_pyfibers():
    """§1.1: every section is a node of 8.333 um; a length gives floor(L / dz) + 1 sections, one fewer if even."""
    f = nervesim.build_fibre("sundt", 1.0, length_um=2195.0)
    assert f.n_nodes == f.n_sections == 263  # floor(2195 / 8.333) + 1 = 264, even: 263
    assert f.length_total_um == pytest.approx(263 * 8.333, rel=1e-12)
    assert f.node_z_um[f.centre_node] == pytest.approx(131.5 * 8.333, rel=1e-12)
    assert nervesim.build_fibre("sundt", 1.0, length_um=2200.0).n_nodes == 265  # 264 + 1, odd
    s = nervesim.build_fibre("sweeney", 10.0, 21)
    assert s.n_sections == 41 and s.length_total_um == pytest.approx(20 * 1000.0 + 1.5)  # §1.1
    assert np.diff(s.node_z_um) == pytest.approx(np.full(20, 1000.0))
    # the spacing known without building a fibre: 8.333 um, 100 D, and MRG's deltax (1122.3 um at 10 um, §1)
    from nervesim.fibre import node_spacing_um
    assert [node_spacing_um("sundt", 1.0), node_spacing_um("sweeney", 10.0)] == pytest.approx([8.333, 1000.0])
    assert node_spacing_um("mrg-interp", 10.0) == pytest.approx(1122.3) == nervesim.build_fibre(
        "mrg-interp", 10.0, 5).node_spacing_um


@pytest.mark.parametrize("kwargs, parameter, allowed", [
    (dict(model="sundt", diameter_um=5.0), "diameter_um", "0.1 to 3.0"),
    (dict(model="sweeney", diameter_um=0.5), "diameter_um", "1.0 to 20.0"),
    (dict(model="mrg-interp", diameter_um=10.0, section_length_um=10.0), "section_length_um", "unmyelinated"),
    (dict(model="sundt", diameter_um=1.0, section_length_um=-1.0), "section_length_um", "0.1 to 1000"),
    (dict(model="sundt", diameter_um=1.0, length_um=10.0), "length_um", "fewer than 3 nodes"),
    (dict(model="sundt", diameter_um=1.0, temperature_c=80.0), "temperature_c", "between"),
    (dict(model="hh", diameter_um=1.0), "model", "sundt"),
])
def test_bad_input_names_the_parameter(kwargs, parameter, allowed):
    with pytest.raises(ParameterError) as err:
        nervesim.build_fibre(**kwargs)
    assert err.value.parameter == parameter and allowed in str(err.value)


def test_mixed_population_recruitment():
    """Myelinated and C fibres in one nerve: each fibre is searched with its own model, exactly as a single
    threshold of that fibre, and at the same place C fibres need far more current (Erlanger-Gasser order)."""
    from nervesim.analyses import FibrePopulation, recruitment

    myelinated = FibrePopulation([0.0, 300.0], [0.0, 0.0], [5.7, 10.0])
    c_fibres = FibrePopulation([0.0, 300.0], [0.0, 0.0], [1.0, 1.0])
    models = ["mrg-interp", "mrg-interp", "sundt", "sundt"]
    w = nervesim.Waveform.monophasic(0.1)
    nerve, el = FibrePopulation.join(myelinated, c_fibres), nervesim.Electrode.point(0.0, 500.0, 0.0, 0.2)
    rec = recruitment(models, nerve, el, w, dt_ms=0.005, max_mA=100.0, warm_start=False)
    for i, (model, d, x) in enumerate(zip(models, [5.7, 10.0, 1.0, 1.0], [0.0, 300.0, 0.0, 300.0])):
        f = nervesim.build_fibre(model, d)
        ref = nervesim.find_threshold(f, nervesim.Electrode.point(-x, 500.0, f.node_z_um[f.centre_node], 0.2), w,
                                      dt_ms=0.005)
        assert rec.thresholds_mA[i] == ref.threshold_mA
    assert rec.thresholds_mA[2:].min() > 5 * rec.thresholds_mA[:2].max()
    with pytest.raises(ParameterError) as err:
        recruitment(models[:3], nerve, el, w)
    assert err.value.parameter == "model"


def test_end_excitation_of_c_fibres_counts_micrometres():
    """A source over section 5 of a Sundt fibre starts the AP about 60 um from the cut end: end excitation,
    although the initiation section is 12 sections (not one node) from the passive end."""
    f = nervesim.build_fibre("sundt", 1.0, 265)
    res = nervesim.find_threshold(f, nervesim.Electrode.point(0.0, 100.0, f.node_z_um[5], 0.2),
                                  nervesim.Waveform.monophasic(0.1), dt_ms=0.005)
    assert res.initiation_node > 3
    assert any(flag.startswith("end_excitation") for flag in res.flags)
    centre = nervesim.find_threshold(f, nervesim.Electrode.point(0.0, 100.0, f.node_z_um[f.centre_node], 0.2),
                                     nervesim.Waveform.monophasic(0.1), dt_ms=0.005)
    assert not any(flag.startswith(("end_excitation", "short_fibre")) for flag in centre.flags)


def test_errors_cross_process_boundaries():
    """Worker pools (validate, sweeps) send errors between processes: they keep their data."""
    import pickle

    from nervesim.threshold import ThresholdSearchError

    e = pickle.loads(pickle.dumps(ParameterError("tstop_ms", "tstop_ms=1: too short")))
    assert e.parameter == "tstop_ms" and str(e) == "tstop_ms=1: too short"
    t = pickle.loads(pickle.dumps(ThresholdSearchError("no bracket", [(1.0, "silent")])))
    assert t.runs == ((1.0, "silent"),) and str(t) == "no bracket"


def test_a_run_that_blows_up_is_refused():
    """2 nA into a 0.2 um Schild 97 fibre drives V to thousands of mV and then NaN: an error, never a result."""
    f = nervesim.build_fibre("schild97", 0.2, 265)
    pulse = nervesim.IntracellularPulse(node=2, amplitude_nA=2.0, delay_ms=0.0, duration_ms=1.0)
    with pytest.raises(FloatingPointError, match="NaN"):
        nervesim.Stimulation(f, None, None, dt_ms=0.005, tstop_ms=10.0, intracellular=pulse).run(0.0)


def test_early_exit_waits_for_a_slow_creep():
    """A Thio autonomic fibre just above threshold sits ~5 mV above rest, creeping up, for ms before it fires
    (detection at 9.5 ms): the decided-run exit must not take that for a decayed response."""
    f = nervesim.build_fibre("thio-autonomic", 1.0, 61)
    el = nervesim.Electrode.point(0.0, 250.0, f.node_z_um[f.centre_node], 0.2)
    s = nervesim.Stimulation(f, el, nervesim.Waveform.monophasic(0.1, "cathodic"), dt_ms=0.001, tstop_ms=20.0)
    full, early = s.run(0.2835), s.run(0.2835, early_exit=True)
    assert full.fired and full.ap_times_ms[f.detection_node] > 9.0
    assert early.fired and early.ap_times_ms[f.detection_node] == full.ap_times_ms[f.detection_node]
    assert s.run(0.2, early_exit=True).steps_run < 0.1 * s.n_steps  # a decaying response still ends early
