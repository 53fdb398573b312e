"""Population thresholds in threads equal single searches."""
import nervesim
from nervesim.population import ThresholdJob, find_thresholds
from nervesim.threshold import find_threshold


def job(D, distance_um, **kw):
    f = nervesim.build_fibre("mrg-interp", D, 21)
    el = nervesim.Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], 0.2)
    return ThresholdJob("mrg-interp", D, el, nervesim.Waveform.monophasic(0.1), n_nodes=21, dt_ms=0.005, **kw), f, el


def test_parallel_population_matches_single_searches():
    jobs = [job(D, r) for D, r in ((4.0, 800.0), (10.0, 1500.0), (14.0, 400.0), (7.0, 1000.0))]
    outcomes = find_thresholds([j for j, _, _ in jobs], threads=2)
    for (j, f, el), o in zip(jobs, outcomes):
        assert o.job.diameter_um == j.diameter_um and o.error is None
        single = find_threshold(f, el, j.waveform, dt_ms=j.dt_ms, tolerance=j.tolerance)
        assert o.result.threshold_mA == single.threshold_mA and o.result.runs == single.runs


def test_failed_job_is_reported_not_raised():
    good, _, _ = job(10.0, 1000.0)
    bad, _, _ = job(10.0, 1000.0, max_mA=0.01)
    out = find_thresholds([good, bad], threads=1)
    assert out[0].result is not None and out[0].error is None
    assert out[1].result is None and "ThresholdSearchError" in out[1].error
