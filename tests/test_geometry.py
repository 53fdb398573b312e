"""Geometry and per-section values against the reference tables (mrg-model.md §1, §2.4-2.5, §6.3)."""
import math

import numpy as np
import pytest

import nervesim
from nervesim.solver import Circuit

KIND = {"node": 0, "mysa": 1, "flut": 2, "stin": 3}


def first_of(fibre, kind):
    return int(np.flatnonzero(fibre.kind == KIND[kind])[0])


def test_section_sequence_and_counts():
    f = nervesim.build_fibre("mrg-interp", 10.0, 25)
    assert f.n_sections == 11 * 24 + 1 == 265
    assert list(f.kind[:12]) == [0, 1, 2, 3, 3, 3, 3, 3, 3, 2, 1, 0]
    assert f.node_sections[-1] == f.n_sections - 1


def test_interp_length_matches_pyfibers_tutorial():
    # PyFibers tutorial: MRG_INTERPOLATION, 10 µm, 25 nodes -> 265 sections, 26 936.20 µm.
    f = nervesim.build_fibre("mrg-interp", 10.0, 25)
    assert f.length_total_um == pytest.approx(26936.20, abs=0.01)
    assert f.z_um[0] == 0.5  # first node centre


@pytest.mark.parametrize("D, axon, node, deltax, flut, nl, stin", [
    (2, 1.541, 1.344, 200.0, 11.76, 31.04, 28.25),
    (5, 3.139, 1.876, 443.2, 27.35, 71.61, 63.59),
    (5.7, 3.573, 2.029, 505.6, 30.56, 79.85, 72.91),
    (10, 6.746, 3.200, 1122.3, 46.73, 120.25, 170.31),
    (16, 12.633, 5.510, 1475.2, 59.09, 147.26, 225.00),
])
def test_interp_fits(D, axon, node, deltax, flut, nl, stin):
    f = nervesim.build_fibre("mrg-interp", D, 5)
    g = f.geometry
    assert g["axon_diameter_um"] == pytest.approx(axon, abs=1e-3)
    assert g["node_diameter_um"] == pytest.approx(node, abs=1e-3)
    assert g["deltax_um"] == pytest.approx(deltax, abs=0.05)
    assert g["flut_length_um"] == pytest.approx(flut, abs=0.005)
    assert g["lamellae"] == pytest.approx(nl, abs=0.005)
    assert f.length_um[first_of(f, "stin")] == pytest.approx(stin, abs=0.005)
    assert f.node_z_um[1] - f.node_z_um[0] == pytest.approx(g["deltax_um"])


@pytest.mark.parametrize("D, axon, node, deltax, flut, nl, stin", [
    (2, 1.082, 0.717, 155.1, 11.34, 17, 20.91),
    (5.7, 3.128, 1.374, 611.0, 30.45, 52, 90.52),
])
def test_small_fibre_fits(D, axon, node, deltax, flut, nl, stin):
    with pytest.warns(UserWarning) if D > 5.7 else _no_warning():
        f = nervesim.build_fibre("mrg-small", D, 5)
    g = f.geometry
    assert g["axon_diameter_um"] == pytest.approx(axon, abs=1e-3)
    assert g["node_diameter_um"] == pytest.approx(node, abs=1e-3)
    assert g["deltax_um"] == pytest.approx(deltax, abs=0.05)
    assert g["flut_length_um"] == pytest.approx(flut, abs=0.005)
    assert g["lamellae"] == nl
    assert f.length_um[first_of(f, "stin")] == pytest.approx(stin, abs=0.005)
    axnode = f.membrane.parameters["axnode"]
    assert axnode["gnabar"] == 2.333333 and axnode["gkbar"] == 0.115556


class _no_warning:
    def __enter__(self):
        import warnings
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_small_fibre_warns_above_5_7():
    with pytest.warns(UserWarning, match="5.7"):
        nervesim.build_fibre("mrg-small", 8.0, 5)


def test_discrete_10um_reference_values():
    f = nervesim.build_fibre("mrg-discrete", 10.0, 5)
    stin = first_of(f, "stin")
    assert f.length_um[stin] == pytest.approx(175.1667, abs=1e-4)
    assert f.xraxial_MOhm_cm[stin] == pytest.approx(8.06840e4, rel=1e-5)
    assert f.xc_uF_cm2[stin] == pytest.approx(4.16667e-4, rel=1e-5)
    assert f.xraxial_MOhm_cm[first_of(f, "mysa")] == pytest.approx(3.37397e5, rel=1e-5)


# §2.5: area (µm²), C_m (pF), G_pas (nS), R_i,half (MΩ), R_p,half (MΩ), C_my (pF), G_my (nS)
SECTION_TABLE = {
    10.0: {"node": (10.37, 0.2073, None, 0.040921, 16.87, 0.0, None),
           "mysa": (94.25, 0.6220, 0.3110, 0.12276, 50.61, 3.927e-4, 3.927e-3),
           "flut": (1445, 19.94, 0.9971, 0.43056, 185.57, 6.021e-3, 6.021e-2),
           "stin": (5503, 75.94, 3.797, 1.6396, 706.66, 2.293e-2, 0.2293)},
    5.7: {"node": (5.969, 0.1194, None, 0.12344, 29.287, 0.0, None),
          "mysa": (53.72, 0.3581, 0.1791, 0.37033, 87.862, 3.358e-4, 3.358e-3),
          "flut": (626.7, 7.477, 0.3738, 1.3492, 286.38, 3.917e-3, 3.917e-2),
          "stin": (1262, 15.06, 0.7530, 2.7177, 576.84, 7.890e-3, 7.890e-2)},
}


@pytest.mark.parametrize("D", [10.0, 5.7])
def test_absolute_section_values(D):
    f = nervesim.build_fibre("mrg-discrete", D, 5)
    c = Circuit.from_fibre(f)
    tab = SECTION_TABLE[D]
    idx = {k: first_of(f, k) for k in KIND}
    idx["node"] = int(f.node_sections[2])  # an active node, away from the passive ends
    for kind, (area, cm_pF, g_nS, _, _, cmy_pF, gmy_nS) in tab.items():
        i = idx[kind]
        assert math.pi * f.diam_um[i] * f.length_um[i] == pytest.approx(area, rel=2e-3)
        assert c.c_m_nF[i] * 1e3 == pytest.approx(cm_pF, rel=2e-3)
        if g_nS is not None:
            assert c.g_pas_uS[i] * 1e3 == pytest.approx(g_nS, rel=2e-3)
            assert c.g_my_uS[i] * 1e3 == pytest.approx(gmy_nS, rel=2e-3)
        assert c.c_my_nF[i] * 1e3 == pytest.approx(cmy_pF, rel=2e-3, abs=1e-12)
    # Coupling conductances are the series of the two half-section resistances (§4.2).
    for a, b in (("node", "mysa"), ("mysa", "flut"), ("flut", "stin"), ("stin", "stin")):
        i = idx[a] if a != "node" else int(f.node_sections[2])
        j = i + 1
        assert f.kind[j] == KIND[b]
        assert c.g_axial_uS[0, i] == pytest.approx(1 / (tab[a][3] + tab[b][3]), rel=2e-3)
        assert c.g_axial_uS[1, i] == pytest.approx(1 / (tab[a][4] + tab[b][4]), rel=2e-3)


def test_passive_end_nodes_pyfibers_style():
    f = nervesim.build_fibre("mrg-interp", 10.0, 11)
    for node in (0, 10):
        i = f.node_sections[node]
        assert not f.active[i]
        assert (f.g_pas_S_cm2[i], f.e_pas_mV[i], f.cm_uF_cm2[i], f.ra_ohm_cm[i]) == (1e-4, -80.0, 1.0, 1e10)
        assert f.xg_S_cm2[i] == 1e10 and f.xc_uF_cm2[i] == 0.0  # extracellular unchanged
    assert f.active[f.node_sections[1:10]].all()
    g = nervesim.build_fibre("mrg-interp", 10.0, 11, passive_end_nodes=2)
    assert not g.active[g.node_sections[[0, 1, 9, 10]]].any() and g.active[g.node_sections[2:9]].all()
    assert nervesim.build_fibre("mrg-interp", 10.0, 11, passive_end_nodes=0).active[f.node_sections].all()


@pytest.mark.parametrize("model, D, match", [
    ("mrg-interp", 1.9, "2.0 to 16.0"), ("mrg-interp", 16.5, "2.0 to 16.0"),
    ("mrg-interp", float("nan"), "2.0 to 16.0"), ("mrg-discrete", 9.0, "5.7, 7.3"),
    ("mrg-small", 1.0, "1.011 to 16.0"),
])
def test_diameter_out_of_range(model, D, match):
    with pytest.raises(nervesim.ModelRangeError, match=match):
        nervesim.build_fibre(model, D, 5)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_nodes": 50}, "odd"), ({"n_nodes": 1}, "odd"), ({"temperature_c": float("inf")}, "temperature"),
    ({"n_nodes": 5, "passive_end_nodes": 2}, "passive_end_nodes"),
    ({"n_nodes": 10_000_001}, "from 3 to 500001"),  # would take ~12 GB to build
])
def test_bad_fibre_arguments(kwargs, match):
    kwargs = {"n_nodes": 11, **kwargs}
    with pytest.raises(ValueError, match=match):
        nervesim.build_fibre("mrg-interp", 10.0, **kwargs)


def test_unknown_model():
    with pytest.raises(ValueError, match="mrg-interp"):
        nervesim.load_model("hh")
