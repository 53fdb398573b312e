"""Population jobs: bad input is refused when a job is made or before any search runs; recruitment's warm starts."""
import time

import numpy as np
import pytest

import nervesim
import nervesim.population as population
from nervesim.errors import ParameterError
from nervesim.population import ThresholdJob, find_thresholds
from nervesim.threshold import ThresholdSearchError


def job(width_ms=0.1, **kw):
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    el = nervesim.Electrode.point(1000.0, 0.0, f.node_z_um[f.centre_node], 0.2)
    args = dict(n_nodes=21, dt_ms=0.005) | kw
    return ThresholdJob("mrg-interp", 10.0, el, nervesim.Waveform.monophasic(width_ms), **args)


@pytest.mark.parametrize("kw, parameter", [(dict(tolerance=2.0), "tolerance"), (dict(tolerance=0.0), "tolerance"),
                                           (dict(tolerance=float("nan")), "tolerance"), (dict(max_mA=-1.0), "max_mA")])
def test_search_settings_checked_when_the_job_is_made(kw, parameter):
    with pytest.raises(ParameterError) as exc:
        job(**kw)
    assert exc.value.parameter == parameter


def count_searches(monkeypatch) -> list:
    searched = []

    def fake_search(stim, **kwargs):
        searched.append(stim)
        time.sleep(0.02)  # a search takes time: a failure elsewhere is seen while this one runs
        raise ThresholdSearchError("no bracket (fake)")
    monkeypatch.setattr(population, "search_threshold", fake_search)
    return searched


@pytest.mark.parametrize("threads", [1, 2])
def test_shared_bad_input_raises_before_any_search(monkeypatch, threads):
    # before: every job became a failed outcome and the run "succeeded" with no thresholds
    searched = count_searches(monkeypatch)
    with pytest.raises(ParameterError) as exc:
        find_thresholds([job(width_ms=0.0123) for _ in range(4)], threads=threads)  # pulse end off the grid
    assert exc.value.parameter == "time_grid" and searched == []


def test_a_later_bad_job_stops_the_run(monkeypatch):
    searched = count_searches(monkeypatch)
    with pytest.raises(ParameterError) as exc:
        find_thresholds([job(), job(dt_ms=0.5), job(), job()], threads=1)
    assert exc.value.parameter == "dt_ms" and len(searched) == 1  # the jobs after it never ran
    searched.clear()
    with pytest.raises(ParameterError):
        find_thresholds([job(), job(dt_ms=0.5)] + [job() for _ in range(8)], threads=2)
    assert len(searched) < 9  # the queued searches were cancelled


def test_recruitment_warm_starts_stay_within_the_tolerance_of_single_fibre_searches():
    from nervesim.analyses import FibrePopulation, recruitment

    pop = FibrePopulation.uniform(24, 2000.0, (4.0, 12.0), seed=5)
    el, w = nervesim.Electrode.point(0.0, 1300.0, 0.0, 0.2), nervesim.Waveform.monophasic(0.1)
    warm = recruitment("mrg-interp", pop, el, w, n_nodes=21, dt_ms=0.005, threads=2)
    cold = recruitment("mrg-interp", pop, el, w, n_nodes=21, dt_ms=0.005, threads=2, warm_start=False)
    # Both are supra-threshold ends of brackets of relative width <= 1e-3 around the same threshold.
    assert np.all(np.abs(warm.thresholds_mA / cold.thresholds_mA - 1) < 1e-3)
    assert np.any(warm.thresholds_mA != cold.thresholds_mA)  # warm starts were used: other brackets
