"""Waveform sampling on the time grid and charges."""
import numpy as np
import pytest

from nervesim import Waveform


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
    with pytest.raises(ValueError, match="not a multiple of dt_ms"):
        Waveform.monophasic(0.0125).sample(0.005, 100)


@pytest.mark.parametrize("kwargs, match", [({"width_ms": 0}, "width_ms"), ({"width_ms": float("nan")}, "width_ms"),
                                           ({"width_ms": 0.1, "polarity": "negative"}, "polarity"),
                                           ({"width_ms": 0.1, "delay_ms": -1}, "delay_ms")])
def test_bad_waveform_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Waveform.monophasic(**kwargs)
