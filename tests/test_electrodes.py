"""Multi-contact and extended electrodes, media presets, potentials from files (closed forms)."""
import math
import warnings

import numpy as np
import pytest

import nervesim
from nervesim.errors import ParameterError
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
    # The values of the reference (mrg-model.md §5.2 and §6.2, from ASCENT's materials.json and PyFibers).
    for name, sigma in (("endoneurium", (1 / 6, 1 / 6, 1 / 1.75)), ("epineurium", (1 / 6.3,) * 3),
                        ("saline", (1.76,) * 3), ("mrg-replication", (1 / 12, 1 / 12, 1 / 3))):
        assert Medium.preset(name).sigma_xyz_S_m == pytest.approx(sigma, rel=1e-12)


def test_ring_through_the_fibre_is_an_error(fibre):
    with pytest.raises(ValueError, match="inside or on the fibre"):
        Electrode((RingContact(3.0, 100.0),), Medium.isotropic(0.2)).potentials(fibre)
    with pytest.raises(ValueError, match="inside or on the fibre"):
        Electrode((RingContact(500.0, 100.0),), Medium.isotropic(0.2)).relative_to(500.0, 0.0).potentials(fibre)


def test_file_potentials_round_trip(fibre, tmp_path):
    z = np.linspace(-1000.0, fibre.z_um[-1] + 1000.0, 4001)
    exact = Electrode.point(700.0, 0.0, fibre.node_z_um[5], 0.2)
    dense = 1 / (4 * math.pi * 0.2 * np.hypot(700.0, z - fibre.node_z_um[5]) * 1e-6)
    FilePotentials(z, dense).to_csv(tmp_path / "ve.csv")
    np.save(tmp_path / "ve.npy", np.column_stack([z, dense]))
    for name in ("ve.csv", "ve.npy"):
        ve = FilePotentials.from_file(tmp_path / name).potentials(fibre)
        # Linear interpolation of 1/r between samples h apart: error <= h²/8·max|V''| (2e-4 here).
        assert ve == pytest.approx(exact.potentials(fibre), rel=2e-4)


def test_file_sampled_at_the_section_centres_is_the_point_electrode(fibre, tmp_path):
    """A field exported at the section centres (10 significant digits) is accepted and gives the
    potentials, hence the run, of the electrode it came from (before: refused over a 5e-11 um rounding)."""
    el = Electrode.point(700.0, 0.0, fibre.node_z_um[5], 0.2)
    path = tmp_path / "centres.csv"
    np.savetxt(path, np.column_stack([fibre.z_um, el.potentials(fibre)]), delimiter=",", header="z_um,ve_mV",
               comments="", fmt="%.10g")
    from_file = FilePotentials.from_file(path)
    assert from_file.potentials(fibre) == pytest.approx(el.potentials(fibre), rel=1e-9)
    wave = nervesim.Waveform.monophasic(0.1)
    a = nervesim.simulate(fibre, from_file, wave, 0.3, dt_ms=0.005, record_nodes=range(fibre.n_nodes))
    b = nervesim.simulate(fibre, el, wave, 0.3, dt_ms=0.005, record_nodes=range(fibre.n_nodes))
    assert a.fired and np.abs(a.vm_mV - b.vm_mV).max() < 1e-6


@pytest.mark.parametrize("make", ["missing", "directory", "header only", "header and one row", "binary csv",
                                  "text npy"])
def test_unreadable_potentials_file_is_one_parameter_error(tmp_path, make):
    path = {"missing": tmp_path / "missing.csv", "directory": tmp_path,
            "text npy": tmp_path / "ve.npy"}.get(make, tmp_path / "ve.csv")
    if make == "header only":
        path.write_text("z_um,ve_mV\n")
    elif make == "header and one row":
        path.write_text("z_um,ve_mV\n0,1\n")
    elif make == "binary csv":  # before: UnicodeDecodeError
        path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    elif make == "text npy":  # before: numpy's pickle ValueError, not naming the parameter
        path.write_text("z_um,ve_mV\n0,1\n1,2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: numpy warned about an empty file ahead of the error
        with pytest.raises(ParameterError) as exc:
            FilePotentials.from_file(path)
    assert exc.value.parameter == "potentials"
    says = {"missing": "does not exist", "directory": "is a directory", "binary csv": "not a text CSV file",
            "text npy": "not a NumPy .npy array"}.get(make, "at least two rows")
    assert says in str(exc.value)


def test_fibre_outside_the_cuffed_nerve_is_refused(fibre):
    # before: a fibre at x = 5 mm in a 2 mm nerve got a threshold (14.49 mA) and no warning
    cuff = Electrode.cuff("livanova2000", 2000.0, z_um=fibre.node_z_um[5])
    for x, y, parameter in ((5000.0, 0.0, "x_um"), (0.0, -996.0, "y_um"), (800.0, 600.0, "x_um")):
        with pytest.raises(ParameterError, match=r"2000 um nerve \(radius 1000 um\).* within 995 um") as exc:
            cuff.relative_to(x, y).potentials(fibre)  # the 10 um fibre reaches 1001 um from the nerve axis
        assert exc.value.parameter == parameter
    # The nerve axis given to the cuff is the same geometry seen from the other side.
    with pytest.raises(ParameterError, match="does not fit"):
        Electrode.cuff("livanova2000", 2000.0, z_um=0.0, x_um=-5000.0).check_fibre(10.0)
    inside = cuff.relative_to(0.0, 994.0)  # wholly inside: 994 + 5 < 1000
    inside.check_fibre(10.0)
    assert np.all(np.isfinite(inside.potentials(fibre)))
    Electrode.point(5000.0, 0.0, 0.0, 0.2).check_fibre(10.0)  # a point source knows no nerve


def test_descriptions_name_the_medium():
    assert Medium.isotropic(0.2).description == "sigma 0.2 S/m"
    assert Medium(0.1, 0.1, 0.5).description == "sigma_xyz 0.1, 0.1, 0.5 S/m"
    assert Medium.preset("endoneurium").description == "endoneurium (sigma_xyz 0.1667, 0.1667, 0.5714 S/m)"
    assert Electrode.point(1000.0, 0.0, 50.0, 0.2).description == "point source at (1000, 0, 50.0) um in sigma 0.2 S/m"
    cuff = Electrode.cuff("livanova2000", 2000.0, z_um=0.0, medium="saline")
    assert cuff.description == "livanova2000 cuff on a 2000 um nerve in saline (sigma 1.76 S/m)"
    assert cuff.relative_to(300.0, -200.0).description.startswith(
        "livanova2000 cuff on a 2000 um nerve, fibre at (300, -200) um from its axis in saline")


@pytest.mark.parametrize("content, match", [
    ("z,v\n0,1\n1,2\n", "header"), ("z_um,ve_mV\n0,1\n0,2\n", "increase"), ("z_um,ve_mV\n0,1\n1,nan\n", "non-finite"),
    ("z_um,ve_mV\n0,1\n10,2\n", "cover"),
])
def test_file_potentials_validation(fibre, tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        FilePotentials.from_file(path).potentials(fibre)
