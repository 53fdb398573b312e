"""Point-source potentials against closed forms (mrg-model.md §5.1)."""
import math

import numpy as np
import pytest

import nervesim
from nervesim.extracellular import Electrode, Medium, PointSource


@pytest.fixture(scope="module")
def fibre():
    return nervesim.build_fibre("mrg-interp", 10.0, 11)


def test_isotropic_point_source(fibre):
    z0 = fibre.node_z_um[5]
    ve = Electrode.point(1000.0, 0.0, z0, 0.2).potentials(fibre)
    r_m = np.hypot(1000.0, fibre.z_um - z0) * 1e-6
    assert ve == pytest.approx(1.0 / (4 * math.pi * 0.2 * r_m), rel=1e-12)
    # 1 mA, 0.2 S/m at 1 mm: 1/(4π·0.2·1e-3) = 397.887 mV
    assert ve[fibre.node_sections[5]] == pytest.approx(397.887, rel=1e-5)


def test_anisotropic_point_source(fibre):
    sx, sy, sz = 0.1, 0.2, 0.5
    z0 = fibre.node_z_um[5]
    ve = Electrode.point(300.0, 400.0, z0, (sx, sy, sz)).potentials(fibre)
    dx, dy, dz = 300e-6, 400e-6, (z0 - fibre.z_um) * 1e-6
    # Closed form via the scaled coordinates: V = I / (4π sqrt(σxσyσz) sqrt(x²/σx + y²/σy + z²/σz)).
    expected = 1 / (4 * math.pi * math.sqrt(sx * sy * sz) * np.sqrt(dx**2 / sx + dy**2 / sy + dz**2 / sz))
    assert ve == pytest.approx(expected, rel=1e-12)


def test_superposition_and_bipolar_symmetry(fibre):
    z0 = fibre.node_z_um[5]
    med = Medium.isotropic(0.3)
    a = Electrode((PointSource(500.0, 0.0, z0 - 2000.0),), med).potentials(fibre)
    b = Electrode((PointSource(500.0, 0.0, z0 + 2000.0),), med).potentials(fibre)
    pair = Electrode((PointSource(500.0, 0.0, z0 - 2000.0, -1.0), PointSource(500.0, 0.0, z0 + 2000.0, 1.0)),
                     med).potentials(fibre)
    assert pair == pytest.approx(b - a, rel=1e-12, abs=1e-12)
    # Odd about the midpoint: the potential at mirrored sections changes sign.
    mid = fibre.node_sections[5]
    assert pair[mid] == pytest.approx(0.0, abs=1e-9)
    assert pair[mid - 7] == pytest.approx(-pair[mid + 7], rel=1e-9)


@pytest.mark.parametrize("x, y", [(0.0, 0.0), (3.0, 0.0), (5.0, 0.0), (3.0, 4.0)])
def test_electrode_inside_fibre_is_an_error(fibre, x, y):
    with pytest.raises(ValueError, match="inside or on the fibre"):
        Electrode.point(x, y, 100.0, 0.2).potentials(fibre)


@pytest.mark.parametrize("sigma", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_conductivity(sigma):
    with pytest.raises(ValueError, match="sigma"):
        Electrode.point(1000.0, 0.0, 0.0, sigma)


def test_non_finite_position():
    with pytest.raises(ValueError, match="x_um"):
        Electrode.point(float("nan"), 0.0, 0.0, 0.2)
