"""The threshold comparison of ``python -m benchmarks`` (benchmarks/peers.py): every tool gets the same case, and
the table names what each row compared. No timing here: the numbers below are made up to check the arithmetic."""
import numpy as np
import pytest

import nervesim
from benchmarks import peers
from nervesim.pyfibers_ref import PyFibersResult


@pytest.mark.parametrize("case", peers.CASES, ids=lambda c: c.name)
def test_pyfibers_gets_the_case_nervesim_runs(case):
    """PyFibers' case has our model, diameter, node count, source position, conductivity, dt, step count and the
    very waveform samples of the Stimulation nervesim's find_threshold builds; only the tolerance differs."""
    fibre, electrode = case.build()
    stim = nervesim.Stimulation(fibre, electrode, peers.PULSE, dt_ms=case.dt_ms)
    for tol in (peers.PYFIBERS_DEFAULT_TOLERANCE, peers.OUR_TOLERANCE):
        pf = case.pyfibers(fibre, tol)
        assert (pf.model, pf.diameter_um, pf.n_nodes) == (fibre.model.name, fibre.diameter_um, fibre.n_nodes)
        assert pf.n_steps == stim.n_steps and pf.dt_ms == stim.dt_ms
        on = np.flatnonzero(stim.wave)
        assert pf.levels() == list(stim.wave[:on[-1] + 1])
        assert pf.tolerance == tol
        # PyFibers' own defaults otherwise: bounds 0.01-1 mA and its 5 ms early exit; the source over the centre.
        assert (pf.stimamp_bottom_mA, pf.stimamp_top_mA, pf.exit_t_shift_ms, pf.z_um) == (0.01, 1.0, 5.0, None)
        # The same potentials: a point source in an isotropic medium at this distance from the centre node.
        r_um = np.hypot(pf.x_um, pf.y_um)
        ve_centre = stim.ve_mV[fibre.node_sections[fibre.centre_node]]
        assert ve_centre == pytest.approx(1.0 / (4 * np.pi * pf.sigma_S_m * r_um * 1e-6), rel=1e-12)


def built(fibre, **changes) -> PyFibersResult:
    """What PyFibers reports having built, here exactly our fibre unless ``changes`` say otherwise."""
    fields = dict(case=None, threshold_mA=0.1, bracket_mA=(0.0999, 0.1), n_runs=12, n_nodes=fibre.n_nodes,
                  n_sections=fibre.n_sections, centre_node=fibre.centre_node,
                  centre_z_um=float(fibre.node_z_um[fibre.centre_node]), length_um=fibre.length_total_um,
                  detection_node=fibre.detection_node, detection_time_ms=1.0, initiation_nodes=(25,), wall_s=1.0)
    return PyFibersResult(**{**fields, **changes})


def test_a_different_pyfibers_fibre_is_named():
    fibre, _ = peers.CASES[0].build()
    assert peers.same_fibre(fibre, built(fibre)) is None
    assert peers.same_fibre(fibre, built(fibre, n_sections=541)) == "sections 551 vs PyFibers 541"
    z = float(fibre.node_z_um[fibre.centre_node])
    msg = peers.same_fibre(fibre, built(fibre, length_um=fibre.length_total_um + 1.0, centre_z_um=z + 1.0))
    assert msg.startswith("length um") and "; source z um" in msg
    # A fibre PyFibers failed to build reports nothing built.
    assert peers.same_fibre(fibre, built(fibre, n_nodes=None)) == "nodes 51 vs PyFibers none"


def test_compare_gives_the_difference_and_the_time_ratio():
    ours = peers.row("nervesim", 1e-3, 0.005, peers.OUR_RUN_RULE, 0.02, 21, 0.125, 16)
    peer = peers.row("PyFibers", 1e-2, 0.005, peers.PYFIBERS_RUN_RULE, 5.0, 3, 0.126, 13)
    out = peers.compare(ours, peer)
    assert out["ratio"] == pytest.approx(250.0) and out["rel_diff"] == pytest.approx(0.008)
    failed = peers.compare(ours, {**peer, "threshold_mA": None, "error": "RuntimeError: no bounds"})
    assert failed["rel_diff"] is None and failed["ratio"] == pytest.approx(250.0)


def test_every_table_row_names_tool_tolerance_dt_and_run_rule():
    fibre, _ = peers.CASES[0].build()
    ours = peers.row("nervesim find_threshold (warm)", 1e-3, 0.005, peers.OUR_RUN_RULE, 0.02, 21, 0.125, 16)
    rows = [peers.row(peers.PYFIBERS_DEFAULT_TOOL, 1e-2, 0.005, peers.PYFIBERS_RUN_RULE, 5.0, 3, 0.126, 13),
            peers.row("PyFibers find_threshold", 1e-3, 0.005, peers.PYFIBERS_RUN_RULE, 6.0, 3, 0.1251, 18),
            peers.row("NEURON 9 + nervesim search", 1e-3, 0.005, peers.NEURON_RUN_RULE, 0.8, 3, 0.125, 16)]
    result = {"case": "mrg", "description": peers.CASES[0].describe(fibre), "tstop_ms": 5.1, "nervesim": ours,
              "peers": [peers.compare(ours, r) for r in rows]}
    lines = peers.threshold_table([result])
    assert "dt 0.005 ms, tstop 5.1 ms" in lines[1] and "51 nodes (551 sections" in lines[1]
    body = lines[3:7]
    for line, r, tol, ratio, diff in zip(body, [ours] + rows, ("0.1 %", "1 %", "0.1 %", "0.1 %"),
                                         ("1x", "250.0x", "300.0x", "40.0x"), ("", "+0.800%", "+0.080%", "+0.000%")):
        assert line.split()[:len(r["tool"].split())] == r["tool"].split()
        assert f" {tol} " in line and " 0.005 " in line and r["run_rule"] in line
        assert line.endswith(ratio) and diff in line
    # Every rule used is spelled out under the table.
    for rule in {r["run_rule"] for r in [ours] + rows}:
        assert any(line.startswith(f"  {rule}: ") for line in lines[7:])

