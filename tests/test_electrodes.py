"""Multi-contact and extended electrodes, media presets, potentials from files (closed forms)."""
import math

import numpy as np
import pytest

import nervesim
from nervesim.extracellular import Electrode, FilePotentials, Medium, PointSource, RingContact, media_presets


@pytest.fixture(scope="module")
def fibre():
    return nervesim.build_fibre("mrg-interp", 10.0, 11)


def ring_exact(R, rho, dz, sigma):
    """Potential (mV per mA) of a uniform ring source: (1/4πσ)·(2/π)·K(m)/sqrt((R+ρ)²+z²)."""
    s = np.sqrt((R + rho) ** 2 + dz ** 2)
    m = 4 * R * rho / s**2
    a, b = np.ones_like(m), np.sqrt(1 - m)
    for _ in range(30):  # arithmetic-geometric mean: K(m) = π / (2·AGM(1, sqrt(1-m)))
        a, b = (a + b) / 2, np.sqrt(a * b)
    return 1 / (4 * math.pi * sigma) * (2 / math.pi) * (math.pi / (2 * a)) / (s * 1e-6)


def test_ring_on_axis_matches_closed_form(fibre):
    z0 = fibre.node_z_um[5]
    ve = Electrode((RingContact(800.0, z0),), Medium.isotropic(0.3)).potentials(fibre)
    expected = 1 / (4 * math.pi * 0.3 * np.hypot(800.0, fibre.z_um - z0) * 1e-6)
    assert ve == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("rho", [100.0, 500.0, 750.0])
def test_ring_off_axis_matches_exact_integral(fibre, rho):
    z0 = fibre.node_z_um[5]
    ring = Electrode((RingContact(800.0, z0),), Medium.isotropic(0.3))
    ve = ring.relative_to(rho, 0.0).potentials(fibre)
    assert ve == pytest.approx(ring_exact(800.0, rho, fibre.z_um - z0, 0.3), rel=1e-6)


def test_arc_and_helix_converge_with_discretisation(fibre):
    z0 = fibre.node_z_um[5]
    for contact in (RingContact(600.0, z0, extent_deg=120.0), RingContact(600.0, z0, extent_deg=300, pitch_um=1700.0,
                                                                          width_um=500.0)):
        coarse = Electrode((contact,), Medium.isotropic(0.2)).relative_to(300.0, 100.0).potentials(fibre)
        fine = Electrode((contact,), Medium.isotropic(0.2), points_per_distance=32).relative_to(300.0, 100.0)
        fine = fine.potentials(fibre)
        assert np.abs(coarse - fine).max() < 1e-3 * np.abs(fine).max()


def test_tripolar_superposition_and_symmetry(fibre):
    z0 = fibre.node_z_um[5]
    med = Medium.isotropic(0.2)
    contacts = [PointSource(400.0, 0.0, z0 + dz, w) for dz, w in ((-3000.0, -0.5), (0.0, 1.0), (3000.0, -0.5))]
    tri = Electrode(tuple(contacts), med).potentials(fibre)
    parts = sum(Electrode((c,), med).potentials(fibre) for c in contacts)
    assert tri == pytest.approx(parts, rel=1e-12)
    mid = fibre.node_sections[5]
    assert tri[mid - 11] == pytest.approx(tri[mid + 11], rel=1e-9)  # mirror symmetric about the centre


def test_livanova_preset_geometry():
    cuff = Electrode.cuff("livanova2000", 2000.0, z_um=10000.0)
    a, b = cuff.sources
    assert a.radius_um == pytest.approx(1100.0)  # 2 mm nerve + 0.1 mm gap opens the 0.99 mm cuff
    assert a.extent_deg == pytest.approx(338.5 * 990 / 1100)  # arc length conserved
    assert b.z_um - a.z_um == pytest.approx(8000.0) and (a.weight, b.weight) == (1.0, -1.0)
    assert cuff.medium == Medium.preset("endoneurium")
    small = Electrode.cuff("livanova2000", 1000.0, z_um=0.0)
    assert small.sources[0].radius_um == 990.0 and small.sources[0].extent_deg == 338.5


def test_media_presets_have_sources():
    presets = media_presets()
    assert {"endoneurium", "epineurium", "saline", "mrg-replication"} <= set(presets)
    assert all(len(src) > 10 for src in presets.values())
    assert Medium.preset("mrg-replication").sigma_z == pytest.approx(1 / 3)


def test_ring_through_the_fibre_is_an_error(fibre):
    with pytest.raises(ValueError, match="inside or on the fibre"):
        Electrode((RingContact(3.0, 100.0),), Medium.isotropic(0.2)).potentials(fibre)
    with pytest.raises(ValueError, match="inside or on the fibre"):
        Electrode((RingContact(500.0, 100.0),), Medium.isotropic(0.2)).relative_to(500.0, 0.0).potentials(fibre)


def test_file_potentials_round_trip(fibre, tmp_path):
    el = Electrode.point(700.0, 0.0, fibre.node_z_um[5], 0.2)
    z = np.linspace(-1000.0, fibre.z_um[-1] + 1000.0, 4001)
    exact = Electrode.point(700.0, 0.0, fibre.node_z_um[5], 0.2)
    dense = 1 / (4 * math.pi * 0.2 * np.hypot(700.0, z - fibre.node_z_um[5]) * 1e-6)
    FilePotentials(z, dense).to_csv(tmp_path / "ve.csv")
    np.save(tmp_path / "ve.npy", np.column_stack([z, dense]))
    for name in ("ve.csv", "ve.npy"):
        ve = FilePotentials.from_file(tmp_path / name).potentials(fibre)
        assert ve == pytest.approx(exact.potentials(fibre), rel=2e-4)  # linear interpolation error only
    res_file = nervesim.simulate(fibre, FilePotentials.from_file(tmp_path / "ve.csv"),
                                 nervesim.Waveform.monophasic(0.1), 0.2, dt_ms=0.005)
    res_point = nervesim.simulate(fibre, el, nervesim.Waveform.monophasic(0.1), 0.2, dt_ms=0.005)
    assert res_file.fired == res_point.fired


@pytest.mark.parametrize("content, match", [
    ("z,v\n0,1\n1,2\n", "header"), ("z_um,ve_mV\n0,1\n0,2\n", "increase"), ("z_um,ve_mV\n0,1\n1,nan\n", "non-finite"),
    ("z_um,ve_mV\n0,1\n10,2\n", "cover"),
])
def test_file_potentials_validation(fibre, tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        FilePotentials.from_file(path).potentials(fibre)
