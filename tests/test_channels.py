"""AXNODE kinetics, generated from models/mechanisms/axnode.toml, against independent references: the values
computed in mrg-model.md (§2.6, §2.7, §3.3, §3.4) and NEURON's own evaluation of the NMODL generated from the
same definition."""
from decimal import Decimal

import numpy as np
import pytest

from nervesim import load_model

MEMBRANE = load_model("mrg-interp").membrane
KERNELS = MEMBRANE.kernels()
LAYOUT = MEMBRANE.layout()
#: Rate names in the order the tests index them (each already multiplied by its Q10 factor).
RATES = ("ap", "bp", "am", "bm", "ah", "bh", "as_", "bs")
GATES = ("p", "m", "h", "s")
#: Where each rate formula is 0/0: (v, index into `RATES`).
SINGULAR = ((-27.0, 0), (-34.0, 1), (-21.4, 2), (-25.7, 3), (-114.0, 4))
#: Voltages covering every branch: the singular points, both sides of ±150 mV, the Exp() guard (v < -100 + ...).
BRANCH_VOLTAGES = np.unique(np.concatenate([
    np.linspace(-250.0, 250.0, 2001),
    [v for v, _ in SINGULAR], [v + d for v, _ in SINGULAR for d in (-1e-6, 1e-6, -1e-3, 1e-3)],
    [-150.0 - 1e-9, -150.0, -150.0 + 1e-9, 150.0 - 1e-9, 150.0, 150.0 + 1e-9],
]))


def params(clamp=True, celsius=37.0):
    """The parameter vector, with the Q10 factors at celsius (terms of constants only, computed once)."""
    par = MEMBRANE.parameter_vector(3.3, celsius)
    par[LAYOUT["par"]["axnode.clamp150"]] = float(clamp)
    return par


def state(v, celsius=37.0, clamp=True):
    """One node initialised at v: gates at steady state."""
    st = np.zeros(LAYOUT["n_st"])
    KERNELS.membrane_init(v, st, params(clamp, celsius), celsius)
    return st


def gates(st):
    return np.array([st[LAYOUT["st"][f"axnode.{g}"]] for g in GATES])


def q10(par):
    return np.array([par[LAYOUT["par"][f"axnode.q{i}"]] for i in (1, 2, 3)])


def rates(v, st, clamp=True, celsius=37.0):
    out = np.zeros(len(LAYOUT["rates"]))
    KERNELS.membrane_rates(v, st, params(clamp, celsius), celsius, out)
    return np.array([out[LAYOUT["rates"].index(f"axnode.{r}")] for r in RATES])


def unscaled_rates(v, clamp=True):
    """The rate formulas without their Q10 factors."""
    return rates(v, state(-80.0), clamp) / np.repeat(q10(params()), [4, 2, 2])


def test_q10_factors():
    assert q10(params(celsius=36.0)) == pytest.approx([3.530826, 5.493344, 1.0], rel=1e-6)
    assert q10(params(celsius=37.0)) == pytest.approx([3.820486, 6.110498, 1.116123], rel=1e-6)


def test_steady_state_at_rest():
    ss = gates(state(-80.0))
    assert ss == pytest.approx([0.2026041, 0.07320930, 0.6206950, 0.04302994], rel=1e-6)
    # Steady states do not depend on temperature.
    assert gates(state(-80.0, 20.0)) == pytest.approx(ss, rel=1e-12)


@pytest.mark.parametrize("celsius, taus", [(36.0, [19.441, 0.056059, 1.12546, 31.900]),
                                           (37.0, [17.967, 0.051809, 1.01179, 28.581])])
def test_time_constants_at_rest(celsius, taus):
    r = rates(-80.0, state(-80.0, celsius), celsius=celsius)
    tau = [1 / (r[0] + r[1]), 1 / (r[2] + r[3]), 1 / (r[4] + r[5]), 1 / (r[6] + r[7])]
    assert tau == pytest.approx(taus, rel=1e-4)


def current(v, st):
    return KERNELS.membrane_current(v, st, params(), 37.0)


def steady_state_current(v):
    return current(v, state(v))[0]


def test_resting_node_current():
    # §2.7: -1.370e-3 mA/cm² at -80 mV (to the half unit of its last digit).
    assert steady_state_current(-80.0) == pytest.approx(-1.370e-3, abs=5e-7)
    # The slope is the sum of the open conductances (the mechanism is linear in v at fixed gates).
    st = state(-80.0)
    p, m, h, s = gates(st)
    _, g = current(-80.0, st)
    assert g == pytest.approx(3.0 * m ** 3 * h + 0.01 * p ** 3 + 0.08 * s + 0.007, rel=1e-8)


@pytest.mark.parametrize("lo, hi, published", [(-89.0, -85.0, -87.94), (-82.0, -79.0, -80.25), (-65.0, -58.0, -61.24)])
def test_steady_state_iv_zero_crossings(lo, hi, published):
    """§2.7: with gates at steady state the nodal I-V crosses zero at -87.94, -80.25 and -61.24 mV."""
    assert np.sign(steady_state_current(lo)) != np.sign(steady_state_current(hi))
    for _ in range(60):  # bisection to far below the published 0.01 mV
        mid = 0.5 * (lo + hi)
        if np.sign(steady_state_current(mid)) == np.sign(steady_state_current(lo)):
            lo = mid
        else:
            hi = mid
    assert lo == pytest.approx(published, abs=0.005)


@pytest.mark.parametrize("index, v, published", [(0, -150.0, "7.13e-6"), (1, 150.0, "4.70e-10"),
                                                 (2, -150.0, "9.04e-4"), (3, 150.0, "7.06e-8"),
                                                 (4, 150.0, "6.18e-10"), (5, -150.0, "3.39e-4"),
                                                 (6, -150.0, "1.13e-9"), (7, -150.0, "2.6e-28")])
def test_formulas_at_the_clamp_boundary(index, v, published):
    """§3.3's formula values at ±150 mV, to half a unit of their last printed digit."""
    value = unscaled_rates(v, clamp=False)[index]
    assert value == pytest.approx(float(published), abs=0.5 * 10.0 ** Decimal(published).as_tuple().exponent)


@pytest.mark.parametrize("v, index", SINGULAR)
def test_singular_points_are_continuous(v, index):
    """The substitute value at each 0/0 point is the formula's limit (symmetric neighbours cancel the slope)."""
    neighbours = 0.5 * (unscaled_rates(v - 1e-4)[index] + unscaled_rates(v + 1e-4)[index])
    assert unscaled_rates(v)[index] == pytest.approx(neighbours, rel=1e-9)


@pytest.fixture(scope="module")
def nrn_node(nrn):
    """One NEURON section carrying the compiled mechanism (no cable, no extracellular layer)."""
    from neuron import h

    nrn.load_mechanisms()
    sec = h.Section(name="axnode_test")
    sec.L, sec.diam, sec.cm = 1.0, 3.3, 2.0
    sec.insert("nsim_axnode")
    return h, sec


@pytest.mark.parametrize("clamp", [True, False])
def test_rates_match_neuron_mechanism(nrn_node, clamp):
    """Every branch (singular points, ±150 mV clamps, the Exp guard) as NEURON evaluates the generated NMODL."""
    h, sec = nrn_node
    mech = sec(0.5).nsim_axnode
    mech.clamp150 = float(clamp)
    h.celsius = 37.0
    h.finitialize(-80.0)  # freezes the Q10 factors
    try:
        ref = []
        for v in BRANCH_VOLTAGES:
            mech.rates(v)
            ref.append([getattr(h, f"{name}_nsim_axnode") for name in RATES])
    finally:
        mech.clamp150 = 1.0
    st = state(-80.0)
    ours = np.array([rates(v, st, clamp) for v in BRANCH_VOLTAGES])
    assert np.allclose(ours, np.array(ref), rtol=1e-13, atol=0)


@pytest.mark.parametrize("celsius", [20.0, 36.0, 37.0])
def test_gates_match_neuron_under_voltage_clamp(nrn_node, celsius):
    """Gate trajectories of NEURON's cnexp under a clamp through -170, +170 and -20 mV: the Q10 factors,
    steady states, time constants and the exponential update together."""
    h, sec = nrn_node
    seg = sec(0.5)
    clamp = h.SEClamp(seg)
    clamp.rs = 1e-6
    clamp.amp1, clamp.dur1, clamp.amp2, clamp.dur2, clamp.amp3, clamp.dur3 = -170.0, 0.3, 170.0, 0.3, -20.0, 1.0
    dt, steps = 0.005, 320
    vecs = [h.Vector().record(ref) for ref in (seg._ref_v, seg._ref_p_nsim_axnode, seg._ref_m_nsim_axnode,
                                               seg._ref_h_nsim_axnode, seg._ref_s_nsim_axnode)]
    h.celsius, h.dt = celsius, dt
    h.finitialize(-80.0)
    for _ in range(steps):
        h.fadvance()
    v, *ref = (vec.as_numpy().copy() for vec in vecs)
    assert v.min() < -150 and v.max() > 150  # the clamp branches were exercised
    st = state(-80.0, celsius)
    # The engine's loop over sections (states by column, straight-line code with vexp), for one section.
    cols, act, v_act = st.reshape(-1, 1).copy(), np.zeros(1, dtype=np.int64), np.empty(1)
    ours, ours_all = np.empty((4, steps + 1)), np.empty((4, steps + 1))
    ours[:, 0] = ours_all[:, 0] = gates(st)
    par = params(celsius=celsius)
    for n in range(steps):  # NEURON advances gates with the membrane potential after the step's solve
        KERNELS.membrane_states(v[n + 1], st, par, celsius, dt)
        KERNELS.membrane_states_all(v[n + 1: n + 2], act, cols, par, celsius, dt, v_act)
        ours[:, n + 1] = gates(st)
        ours_all[:, n + 1] = gates(cols[:, 0])
    assert np.allclose(ours, np.array(ref), rtol=1e-11, atol=1e-14)
    assert np.allclose(ours_all, np.array(ref), rtol=1e-11, atol=1e-14)


def test_vectorisable_exp_against_the_c_library():
    """`vexp`, the exp of the vectorised state loop, against the C library's (math.exp): within 3 ulp over
    the normal range, and the same infinities, zeros and nan."""
    import math

    import numba

    vexp = KERNELS.vexp

    @numba.njit
    def both(xs):
        ours, ref = np.empty_like(xs), np.empty_like(xs)
        for i in range(xs.shape[0]):
            ours[i], ref[i] = vexp(xs[i]), math.exp(xs[i])
        return ours, ref

    xs = np.concatenate([np.linspace(-708.0, 709.7, 400001), np.linspace(-5.0, 5.0, 100001)])
    ours, ref = both(xs)
    assert np.max(np.abs(ours - ref) / np.spacing(ref)) <= 3.0
    assert np.mean(ours == ref) > 0.8
    special = np.array([-np.inf, -1000.0, -745.2, 709.8, 1000.0, np.inf, np.nan])
    ours, ref = both(special)
    assert np.array_equal(ours, ref, equal_nan=True)


def test_vectorisable_log_and_pow_against_the_c_library():
    """`vlog`, `vlog10` and `vpow` of the vectorised loops against the C library's: log within 1 ulp and log10
    within 2 over the whole range (subnormals included), pow within (4 + 2 |y ln x|) ulp; log's special values
    as the C library's."""
    import math

    import numba

    vlog, vlog10, vpow = KERNELS.vlog, KERNELS.vlog10, KERNELS.vpow

    @numba.njit
    def all_three(xs, ys):
        ours, ref = np.empty((3, xs.shape[0])), np.empty((3, xs.shape[0]))
        for i in range(xs.shape[0]):
            ours[0, i], ref[0, i] = vlog(xs[i]), math.log(xs[i])
            ours[1, i], ref[1, i] = vlog10(xs[i]), math.log10(xs[i])
            ours[2, i], ref[2, i] = vpow(xs[i], ys[i]), math.pow(xs[i], ys[i])
        return ours, ref

    rng = np.random.default_rng(7)
    xs = np.concatenate([np.exp(rng.uniform(-744.0, 709.0, 200000)), rng.uniform(0.5, 2.0, 100000),
                         rng.uniform(5e-324, 2.2e-308, 1000)])
    ys = rng.uniform(-3.0, 3.0, xs.size)
    ours, ref = all_three(xs, ys)
    with np.errstate(invalid="ignore"):  # inf - inf where pow overflows in both
        ulp = np.abs(ours - ref) / np.spacing(np.abs(ref))
    assert ulp[0].max() <= 1.0 and ulp[1][ref[1] != 0].max() <= 2.0
    finite = np.isfinite(ref[2]) & (ref[2] > 0)
    assert np.all(ulp[2][finite] <= 4.0 + 2.0 * np.abs(ys * np.log(xs))[finite])
    special = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0, 5e-324, np.finfo(float).max])
    ours, ref = all_three(special, np.ones_like(special))
    assert np.array_equal(ours[0], ref[0], equal_nan=True)
