"""Population jobs: bad input is refused when a job is made or before any search runs."""
import pytest

import nervesim
import nervesim.population as population
from nervesim.errors import ParameterError
from nervesim.population import ThresholdJob, find_thresholds, run_job


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


def test_bad_job_raises_before_any_search(monkeypatch):
    # before: the bad job became a failed outcome after the good ones had run
    def refuse(*args, **kwargs):
        raise AssertionError("searched before every job was checked")
    monkeypatch.setattr(population, "search_threshold", refuse)
    bad = job(width_ms=0.0123)  # pulse end off the 0.005 ms grid
    for threads in (1, 2):
        with pytest.raises(ParameterError) as exc:
            find_thresholds([job(), job(), bad], threads=threads)
        assert exc.value.parameter == "time_grid"


def test_run_job_reports_bad_input_as_an_outcome():
    # Sweeps store every point's outcome, so the single-job runner does not raise.
    out = run_job(job(dt_ms=0.5))
    assert out.result is None and out.error.startswith("ParameterError: dt_ms=0.5")
