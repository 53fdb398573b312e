"""Population thresholds in threads against the NEURON reference of the same fibres and search."""
import pytest

import nervesim
from nervesim.population import ThresholdJob, find_thresholds
from nervesim.threshold import search_threshold

CASES = ((4.0, 800.0), (10.0, 1500.0), (14.0, 400.0), (7.0, 1000.0))


def job(D, distance_um, **kw):
    f = nervesim.build_fibre("mrg-interp", D, 21)
    el = nervesim.Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], 0.2)
    return ThresholdJob("mrg-interp", D, el, nervesim.Waveform.monophasic(0.1), n_nodes=21, dt_ms=0.005, **kw), f, el


@pytest.fixture(scope="module")
def neuron_searches(nrn):
    """The same searches run by NEURON: the independent reference for every job of `CASES`."""
    out = {}
    for D, r in CASES:
        j, f, el = job(D, r)
        out[D, r] = search_threshold(nrn.NeuronStimulation(f, el, j.waveform, dt_ms=j.dt_ms), tolerance=j.tolerance)
    return out


def test_parallel_population_matches_neuron(neuron_searches):
    jobs = [job(D, r)[0] for D, r in CASES]
    outcomes = find_thresholds(jobs, threads=2)
    for (D, r), j, o in zip(CASES, jobs, outcomes):
        assert o.job is j and o.error is None  # outcomes come back in job order
        ref = neuron_searches[D, r]
        # Same algorithm, engines equal to rounding: the same decisions, hence identical brackets.
        assert o.result.runs == ref.runs and o.result.bracket_mA == ref.bracket_mA
        assert o.result.initiation_node == ref.initiation_node


def test_failed_job_is_reported_not_raised(neuron_searches):
    good, _, _ = job(10.0, 1500.0)
    bad, _, _ = job(10.0, 1500.0, max_mA=0.01)
    out = find_thresholds([good, bad], threads=1)
    assert out[0].error is None and out[0].result.bracket_mA == neuron_searches[10.0, 1500.0].bracket_mA
    assert out[1].result is None
    assert out[1].error.startswith("ThresholdSearchError: ") and "0.01" in out[1].error  # names the range tried
