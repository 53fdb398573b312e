"""Waveform sampling on the time grid and charges."""
import numpy as np
import pytest

from nervesim import Waveform
from nervesim.errors import ParameterError


def test_monophasic_samples_at_step_start():
    w = Waveform.monophasic(0.1, "cathodic", delay_ms=0.05).sample(0.025, 10)
    assert list(w) == [0, 0, -1, -1, -1, -1, 0, 0, 0, 0]


def test_biphasic_with_gap_is_charge_balanced():
    w = Waveform.biphasic(0.1, "anodic", gap_ms=0.05)
    s = w.sample(0.025, 12)
    assert list(s) == [1, 1, 1, 1, 0, 0, -1, -1, -1, -1, 0, 0]
    assert w.charge_per_phase(2.0) == pytest.approx([0.2, -0.2])
    assert sum(w.charge_per_phase()) == 0
    assert w.end_ms == pytest.approx(0.25)


def test_edges_off_the_grid_are_refused():
    with pytest.raises(ParameterError, match="not a multiple of dt_ms"):
        Waveform.monophasic(0.0125).sample(0.005, 100)


@pytest.mark.parametrize("kwargs, match", [({"width_ms": 0}, "width_ms"), ({"width_ms": float("nan")}, "width_ms"),
                                           ({"width_ms": 0.1, "polarity": "negative"}, "polarity"),
                                           ({"width_ms": 0.1, "delay_ms": -1}, "delay_ms")])
def test_bad_waveform_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match) as err:
        Waveform.monophasic(**kwargs)
    assert err.value.parameter == match


def test_asymmetric_biphasic_is_charge_balanced():
    w = Waveform.asymmetric_biphasic(0.1, 4.0, "cathodic", gap_ms=0.05)
    assert w.charge_per_phase(2.0) == pytest.approx([-0.2, 0.2])
    assert w.net_charge() == pytest.approx(0.0, abs=1e-15)
    s = w.sample(0.05, 12)
    assert s[0] == -1 and s[1] == -1 and s[2] == 0 and np.all(s[3:11] == 0.25) and s[11] == 0


def test_pulse_train():
    pulse = Waveform.biphasic(0.1, delay_ms=0.1)
    train = pulse.train(1000.0, n_pulses=3)
    s = train.sample(0.1, 35)
    assert np.flatnonzero(s == -1).tolist() == [1, 11, 21] and np.flatnonzero(s == 1).tolist() == [2, 12, 22]
    assert len(pulse.train(1000.0, duration_ms=5.0).phases) == 10
    assert train.net_charge() == 0
    with pytest.raises(ParameterError, match="period"):
        Waveform.monophasic(2.0).train(1000.0, n_pulses=2)
    with pytest.raises(ParameterError, match="exactly one"):
        pulse.train(100.0)


def test_train_off_the_time_grid_on_request():
    """A 30 Hz train (period 33.33 ms) cannot be sampled at dt 0.005 ms as given (the error names the fix); with
    onset_grid_ms=dt each pulse starts within dt/2 of k periods, without accumulating, and stays charge-balanced."""
    pulse = Waveform.biphasic(0.1)
    with pytest.raises(ParameterError, match="onset_grid_ms") as err:
        pulse.train(30.0, n_pulses=16).sample(0.005, 110_000)
    assert err.value.parameter == "time_grid"
    train = pulse.train(30.0, n_pulses=16, onset_grid_ms=0.005)
    s = train.sample(0.005, 110_000)
    onsets = np.flatnonzero((s == -1) & (np.concatenate([[0.0], s[:-1]]) != -1)) * 0.005  # cathodic phase starts
    exact = np.arange(16) * 1000 / 30
    assert onsets.size == 16 and np.max(np.abs(onsets - exact)) <= 0.0025 + 1e-12
    assert np.count_nonzero(s == -1) == np.count_nonzero(s == 1) == 16 * 20
    assert train.net_charge() == pytest.approx(0.0, abs=1e-12) and "0.005 ms grid" in train.label
    with pytest.raises(ParameterError) as err:
        pulse.train(30.0, n_pulses=2, onset_grid_ms=0.0)
    assert err.value.parameter == "onset_grid_ms"


def test_sampled_waveform_from_arrays_and_file(tmp_path):
    w = Waveform.sampled([0.0, 0.1, 0.2, 0.5], [-1.0, 0.0, 0.5])
    assert w.charge_per_phase() == pytest.approx([-0.1, 0.15])
    (tmp_path / "w.csv").write_text("t_ms,value\n0,-1\n0.1,0\n0.2,0.5\n0.5,0\n")
    f = Waveform.from_file(tmp_path / "w.csv")
    assert np.array_equal(f.sample(0.05, 12), w.sample(0.05, 12))
    with pytest.raises(ParameterError, match="not a multiple of dt_ms"):
        Waveform.sampled([0.0, 0.0123], [1.0]).sample(0.005, 10)
    with pytest.raises(ParameterError, match="increase"):
        Waveform.sampled([0.0, 0.2, 0.1], [1.0, 2.0])


def test_pulse_by_name():
    assert Waveform.pulse("biphasic", 0.1, "anodic", gap_ms=0.05) == Waveform.biphasic(0.1, "anodic", gap_ms=0.05)
    assert Waveform.pulse("asymmetric", 0.1, ratio=2.0).charge_per_phase() == pytest.approx([-0.1, 0.1])
    for kwargs, match in (({"kind": "mono", "gap_ms": 0.1}, "gap_ms"), ({"kind": "asymmetric"}, "ratio"),
                          ({"kind": "square"}, "pulse")):
        with pytest.raises(ParameterError, match=match) as err:
            Waveform.pulse(width_ms=0.1, **kwargs)
        assert err.value.parameter == match
