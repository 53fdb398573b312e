"""The block-Thomas backward-Euler solver against an independent dense linear solve."""
import dataclasses

import numpy as np

import nervesim
from nervesim.solver import Circuit
from conftest import point_at_centre


def passive_fibre(D=10.0, n_nodes=11):
    f = nervesim.build_fibre("mrg-interp", D, n_nodes)
    g = f.g_pas_S_cm2.copy()
    g[f.node_sections] = 0.007  # nodal leak only: channels off
    return dataclasses.replace(f, active=np.zeros_like(f.active), g_pas_S_cm2=g)


def dense_backward_euler(c: Circuit, ve, wave, dt, v0):
    """Integrate the passive double cable (reference §4.3) with a dense solve per step.

    Unknowns are absolute potentials [v_i, x0, x1] per compartment; every equation is written
    from the conductance network, not from the solver's Δ-form.
    """
    n = len(c.c_m_nF)
    vi, x0, x1 = np.full(n, v0), np.zeros(n), np.zeros(n)
    out = [vi - x0]
    I0, I1, I2 = np.arange(n), n + np.arange(n), 2 * n + np.arange(n)
    for w in wave:
        A = np.zeros((3 * n, 3 * n))
        b = np.zeros(3 * n)
        e = w * ve
        v_old, m_old = vi - x0, x0 - x1
        cm, cmy, co = c.c_m_nF / dt, c.c_my_nF / dt, c.c_o_nF / dt
        for k in range(n):
            # membrane current leaving v_i into x0: cm*(v - v_old) + g*(v - e_pas)
            mem = {I0[k]: cm[k] + c.g_pas_uS[k], I1[k]: -(cm[k] + c.g_pas_uS[k])}
            mem_rhs = cm[k] * v_old[k] + c.g_pas_uS[k] * c.e_pas_mV[k]
            my = {I1[k]: cmy[k] + c.g_my_uS[k], I2[k]: -(cmy[k] + c.g_my_uS[k])}
            my_rhs = cmy[k] * m_old[k]
            for col, val in mem.items():
                A[I0[k], col] += val
                A[I1[k], col] -= val
            b[I0[k]] += mem_rhs
            b[I1[k]] -= mem_rhs
            for col, val in my.items():
                A[I1[k], col] += val
                A[I2[k], col] -= val
            b[I1[k]] += my_rhs
            b[I2[k]] -= my_rhs
            A[I2[k], I2[k]] += co[k] + c.g_o_uS[k]
            b[I2[k]] += co[k] * x1[k] + c.g_o_uS[k] * e[k]
        for layer, idx in enumerate((I0, I1, I2)):
            for k in range(n - 1):
                g = c.g_axial_uS[layer, k]
                A[idx[k], idx[k]] += g
                A[idx[k + 1], idx[k + 1]] += g
                A[idx[k], idx[k + 1]] -= g
                A[idx[k + 1], idx[k]] -= g
        y = np.linalg.solve(A, b)
        vi, x0, x1 = y[I0], y[I1], y[I2]
        out.append(vi - x0)
    return np.array(out).T


def test_passive_fibre_matches_dense_solve():
    f = passive_fibre()
    el = point_at_centre(f, 300.0)
    dt = 0.005
    stim = nervesim.Stimulation(f, el, nervesim.Waveform.biphasic(0.05), dt_ms=dt, tstop_ms=0.2)
    stim_res = stim.run(0.5, record_nodes=range(f.n_nodes))
    # Start the dense run from the same pre-run state: a passive fibre at rest stays at rest.
    assert np.allclose(stim_res.vm_mV[:, 0], -80.0, atol=1e-9)
    dense = dense_backward_euler(stim.circuit, stim.ve_mV, 0.5 * stim.wave, dt, -80.0)
    dense_nodes = dense[f.node_sections]
    response = np.abs(dense_nodes + 80.0).max()
    assert response > 1.0  # the stimulus does polarise the nodes
    assert np.abs(stim_res.vm_mV - dense_nodes).max() < 1e-11 * response  # rounding level


def test_passive_response_is_linear_and_odd_in_amplitude():
    f = passive_fibre()
    stim = nervesim.Stimulation(f, point_at_centre(f, 500.0), nervesim.Waveform.monophasic(0.1), tstop_ms=0.3)
    a = stim.run(0.1, record_nodes=range(f.n_nodes)).vm_mV + 80.0
    b = stim.run(0.3, record_nodes=range(f.n_nodes)).vm_mV + 80.0
    assert np.abs(b - 3 * a).max() < 1e-9 * np.abs(b).max()


def test_batch_of_electrode_positions_equals_single_runs(fibre10):
    """One call runs the same fibre under several electrodes and amplitudes, in parallel."""
    w = nervesim.Waveform.monophasic(0.1)
    els = [point_at_centre(fibre10, r) for r in (500.0, 1000.0, 2000.0)]
    ve = np.array([e.potentials(fibre10) for e in els])
    amps = [0.04, 0.2, 0.5]  # thresholds at these distances: 0.046, 0.123, 0.388 mA
    stim = nervesim.Stimulation(fibre10, els[0], w, dt_ms=0.005)
    batch = stim.run_many(amps, potentials_mV=ve, early_exit=False)
    for el, a, b in zip(els, amps, batch):
        single = nervesim.Stimulation(fibre10, el, w, dt_ms=0.005).run(a)
        assert np.array_equal(single.ap_counts, b.ap_counts)
        assert np.array_equal(single.crossing_ms, b.crossing_ms, equal_nan=True)
    assert [b.fired for b in batch] == [False, True, True]
