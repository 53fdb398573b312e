"""AXNODE kinetics against the reference's computed values (mrg-model.md §2.6, §2.7, §3)."""
import numpy as np
import pytest

from nervesim.channels import axnode_current, axnode_params, axnode_rates, axnode_steady_state, q10_factors

PAR = axnode_params({"gnabar": 3.0, "gnapbar": 0.01, "gkbar": 0.08, "gl": 0.007, "ena": 50.0, "ek": -90.0,
                     "el": -90.0, "clamp150": 1.0})


def test_q10_factors():
    assert q10_factors(36.0) == pytest.approx([3.530826, 5.493344, 1.0], rel=1e-6)
    assert q10_factors(37.0) == pytest.approx([3.820486, 6.110498, 1.116123], rel=1e-6)


def test_steady_state_at_rest():
    ss = axnode_steady_state(-80.0, q10_factors(37.0), True)
    assert ss == pytest.approx([0.2026041, 0.07320930, 0.6206950, 0.04302994], rel=1e-6)
    # Steady states do not depend on temperature.
    assert axnode_steady_state(-80.0, q10_factors(20.0), True) == pytest.approx(ss, rel=1e-12)


@pytest.mark.parametrize("celsius, taus", [(36.0, [19.441, 0.056059, 1.12546, 31.900]),
                                           (37.0, [17.967, 0.051809, 1.01179, 28.581])])
def test_time_constants_at_rest(celsius, taus):
    r = axnode_rates(-80.0, q10_factors(celsius), True)
    tau = [1 / (r[0] + r[1]), 1 / (r[2] + r[3]), 1 / (r[4] + r[5]), 1 / (r[6] + r[7])]
    assert tau == pytest.approx(taus, rel=1e-4)


def test_resting_node_current():
    p, m, h, s = axnode_steady_state(-80.0, q10_factors(37.0), True)
    i, g = axnode_current(-80.0, p, m, h, s, PAR)
    assert i == pytest.approx(-1.370e-3, abs=2e-6)
    # The slope is the sum of the open conductances; check against a finite difference.
    i2, _ = axnode_current(-79.999, p, m, h, s, PAR)
    assert g == pytest.approx((i2 - i) / 0.001, rel=1e-8)


def test_clamps_beyond_150mV():
    q = np.ones(3)
    lo = axnode_rates(-160.0, q, True)
    hi = axnode_rates(160.0, q, True)
    assert (lo[0], lo[2], lo[5], lo[6], lo[7]) == (0.00086725, 0.15733, 0.0014054, 3.3484e-05, 3.3484e-06)
    assert (hi[1], hi[3], hi[4]) == (1.5855e-05, 0.0057268, 0.0032594)
    # Without the clamp the formulas apply (ModelDB AXNODE).
    free = axnode_rates(-160.0, q, False)
    assert free[2] == pytest.approx(1.86 * (-160 + 21.4) / (1 - np.exp(-(-160 + 21.4) / 10.3)))


@pytest.mark.parametrize("v, index, limit", [(-27.0, 0, 0.102), (-34.0, 1, 0.0025), (-21.4, 2, 19.158),
                                             (-25.7, 3, 0.78776), (-114.0, 4, 0.682)])
def test_singular_points_are_continuous(v, index, limit):
    q = np.ones(3)
    assert axnode_rates(v, q, True)[index] == limit
    assert axnode_rates(v + 1e-4, q, True)[index] == pytest.approx(limit, rel=1e-4)
