"""Population thresholds in threads against independent single-fibre searches (NEURON, and cold searches)."""
from types import SimpleNamespace

import numpy as np
import pytest

import nervesim
from nervesim.population import ThresholdJob, WarmStarts, find_thresholds, known_before
from nervesim.threshold import find_threshold, search_threshold

CASES = ((4.0, 800.0), (10.0, 1500.0), (14.0, 400.0), (7.0, 1000.0))


def job(D, distance_um, n_nodes=21, **kw):
    f = nervesim.build_fibre("mrg-interp", D, n_nodes)
    el = nervesim.Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], 0.2)
    waveform = nervesim.Waveform.monophasic(0.1)
    return ThresholdJob("mrg-interp", D, el, waveform, n_nodes=n_nodes, dt_ms=0.005, **kw), f, el


@pytest.fixture(scope="module")
def neuron_searches(nrn):
    """The same searches run by NEURON: the independent reference for every job of `CASES`."""
    out = {}
    for D, r in CASES:
        j, f, el = job(D, r)
        out[D, r] = search_threshold(nrn.NeuronStimulation(f, el, j.waveform, dt_ms=j.dt_ms), tolerance=j.tolerance)
    return out


def overlap_within_tolerance(a, b, tolerance):
    """Both brackets contain the threshold: they overlap, and their supra-threshold ends differ by < tolerance."""
    (alo, ahi), (blo, bhi) = a.bracket_mA, b.bracket_mA
    return alo < bhi and blo < ahi and abs(ahi - bhi) / bhi < tolerance


def test_cold_population_matches_neuron_run_for_run(neuron_searches):
    jobs = [job(D, r)[0] for D, r in CASES]
    outcomes = find_thresholds(jobs, threads=2, warm_start=False)
    for (D, r), j, o in zip(CASES, jobs, outcomes):
        assert o.job is j and o.error is None  # outcomes come back in job order
        ref = neuron_searches[D, r]
        # Same algorithm, engines equal to rounding: the same decisions, hence identical brackets.
        assert o.result.runs == ref.runs and o.result.bracket_mA == ref.bracket_mA
        assert o.result.initiation_node == ref.initiation_node


def test_warm_population_brackets_the_neuron_thresholds(neuron_searches):
    jobs = [job(D, r)[0] for D, r in CASES]
    for (D, r), o in zip(CASES, find_thresholds(jobs, threads=2)):
        assert o.error is None and overlap_within_tolerance(o.result, neuron_searches[D, r], o.job.tolerance)
        assert o.result.initiation_node == neuron_searches[D, r].initiation_node


@pytest.fixture(scope="module")
def population():
    """100 fibres, 2-16 um at 0.2-1 mm, with the cold single-fibre search of each."""
    rng = np.random.default_rng(7)
    jobs = [job(float(D), float(r))[0] for D, r in zip(rng.uniform(2, 16, 100), rng.uniform(200, 1000, 100))]
    cold = [find_threshold(nervesim.build_fibre(j.model, j.diameter_um, j.n_nodes), j.electrode, j.waveform,
                           dt_ms=j.dt_ms, tolerance=j.tolerance) for j in jobs]
    return jobs, cold


def test_warm_starts_keep_every_threshold_within_tolerance_with_fewer_runs(population):
    jobs, cold = population
    warm = find_thresholds(jobs, threads=2)
    for w, c in zip(warm, cold):
        lo, hi = w.result.bracket_mA
        assert (hi - lo) / hi <= w.job.tolerance  # a bracket of the job's tolerance, as cold
        assert overlap_within_tolerance(w.result, c, w.job.tolerance)
    # Counted runs (deterministic): 640 warm against 1672 cold (16.7 per fibre); fewer still in larger populations.
    assert sum(w.result.n_runs for w in warm) < sum(c.n_runs for c in cold) / 2


def test_warm_results_do_not_depend_on_threads_or_timing(population):
    jobs, _ = population
    one, two = find_thresholds(jobs, threads=1), find_thresholds(jobs, threads=3)
    assert [o.result.runs for o in one] == [o.result.runs for o in two]


def test_each_job_predicts_from_jobs_that_started_well_before_it():
    assert [known_before(i) for i in (0, 1, 2, 9, 63, 64, 100)] == [0, 0, 1, 4, 31, 32, 68]


def test_failed_job_is_reported_not_raised(neuron_searches):
    good, _, _ = job(10.0, 1500.0)
    bad, _, _ = job(10.0, 1500.0, max_mA=0.01)
    out = find_thresholds([good, bad, good], threads=2)
    assert out[0].error is None and overlap_within_tolerance(out[0].result, neuron_searches[10.0, 1500.0], 1e-3)
    assert out[1].result is None
    assert out[1].error.startswith("ThresholdSearchError: ") and "0.01" in out[1].error  # names the range tried
    # Job 2 starts at job 0's threshold (the failed job 1 is skipped), one tolerance around it: two runs.
    assert out[2].result.n_runs == 2 and overlap_within_tolerance(out[2].result, out[0].result, 1e-3)


def test_the_node_phase_feature_is_where_the_activating_function_peaks_between_nodes():
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    z, c = f.node_z_um, f.centre_node

    def phase(z_um):
        el = nervesim.Electrode.point(500.0, 0.0, z_um, 0.2)
        stim = nervesim.Stimulation(f, el, nervesim.Waveform.monophasic(0.1), dt_ms=0.005)
        return WarmStarts.features(job(10.0, 500.0)[0], stim)[1][2]

    offsets = [0.0, 0.1, 0.25, 0.4, 0.5]
    phases = [phase(z[c] + s * (z[c + 1] - z[c])) for s in offsets]
    assert phases[0] == pytest.approx(0.0, abs=1e-9) and phases[-1] == pytest.approx(0.5, abs=1e-9)  # symmetric
    assert np.all(np.diff(phases) > 0)  # grows with the source's offset from the node
    assert phase(z[c] - 0.25 * (z[c + 1] - z[c])) == pytest.approx(phases[2], rel=1e-9)  # either side alike


def test_a_prediction_far_outside_the_finished_fibres_stays_within_a_factor_two_of_them():
    # Thresholds growing steeply (log threshold = 5 x^2 over the first feature, x in 0-1): the fitted quadratic,
    # evaluated at x = 3, would predict e^45 times the guess; the start is held at twice the largest seen (e^5).
    jobs = [job(10.0, 500.0)[0]] * 41
    warm = WarmStarts(jobs)
    for i, x0 in enumerate(np.linspace(0.0, 1.0, 20)):  # job 40 predicts from jobs 0-19
        threshold = np.exp(5 * x0 ** 2)
        warm.record(i, np.array([x0, 0.0, 0.0]), 1.0, SimpleNamespace(bracket_mA=(threshold, threshold)))
    for i in range(40):
        warm.finish(i)
    assert warm.start(40, np.array([3.0, 0.0, 0.0])) == pytest.approx(2 * np.exp(5.0), rel=1e-12)
    assert warm.start(40, np.array([0.5, 0.0, 0.0])) == pytest.approx(np.exp(1.25), rel=1e-9)  # inside: the fit
