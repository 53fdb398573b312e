import numpy as np
import pytest

import nervesim


@pytest.fixture(scope="session")
def fibre10():
    """MRG interpolation, 10 µm, 51 nodes: the project's reference case."""
    return nervesim.build_fibre("mrg-interp", 10.0, 51)


def point_at_centre(fibre, distance_um, sigma=0.2):
    return nervesim.Electrode.point(distance_um, 0.0, fibre.node_z_um[fibre.centre_node], sigma)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
