"""Physiological behaviour of the active fibre: propagation, conduction velocity, thresholds."""
import numpy as np
import pytest

import nervesim
from nervesim.threshold import find_threshold
from conftest import point_at_centre


def conduction_velocity_m_s(model, D, n_nodes=21):
    """CV from AP times at nodes int(0.25(N-1)) and int(0.75(N-1)) after a 2 nA, 0.1 ms pulse at node 1."""
    f = nervesim.build_fibre(model, D, n_nodes)
    pulse = nervesim.IntracellularPulse(node=1, amplitude_nA=2.0, delay_ms=0.0, duration_ms=0.1)
    res = nervesim.simulate(f, None, None, 0.0, dt_ms=0.005, tstop_ms=5.0, intracellular=pulse)
    a, b = int(0.25 * (n_nodes - 1)), int(0.75 * (n_nodes - 1))
    t = res.crossing_ms
    return (f.node_z_um[b] - f.node_z_um[a]) / (t[b] - t[a]) / 1e3, res


def test_ap_propagates_end_to_end():
    _, res = conduction_velocity_m_s("mrg-interp", 10.0)
    active = np.arange(1, 20)
    assert np.all(res.ap_counts[active] == 1)
    assert res.initiation_node == 1
    assert np.all(np.diff(res.crossing_ms[active]) > 0)  # in order, away from the stimulated node


def test_conduction_velocity_rises_with_diameter():
    cv = [conduction_velocity_m_s("mrg-interp", D)[0] for D in (2.0, 5.7, 10.0, 16.0)]
    assert np.all(np.diff(cv) > 0)
    # Large myelinated fibres conduct at tens of m/s (A fibres 5-120 m/s, reference §7.2).
    assert 5 < cv[0] < cv[-1] < 120


@pytest.fixture(scope="module")
def thresholds(fibre10):
    def thr(distance_um=1000.0, width_ms=0.1, polarity="cathodic"):
        return find_threshold(fibre10, point_at_centre(fibre10, distance_um),
                              nervesim.Waveform.monophasic(width_ms, polarity)).threshold_mA
    return thr


def test_threshold_rises_with_distance(thresholds):
    t = [thresholds(distance_um=d) for d in (500.0, 1000.0, 2000.0)]
    assert t[0] < t[1] < t[2]


def test_threshold_falls_with_pulse_width(thresholds):
    t = [thresholds(width_ms=w) for w in (0.05, 0.1, 0.5)]
    assert t[0] > t[1] > t[2]


def test_cathodic_needs_less_than_anodic(thresholds):
    assert thresholds(polarity="cathodic") < thresholds(polarity="anodic")
