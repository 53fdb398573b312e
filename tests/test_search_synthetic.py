"""The threshold search and the activation window driven by synthetic engines with known responses.

Each synthetic engine answers from a rule over amplitude (fired / excited but not detected / silent),
so the right bracket is known exactly and every amplitude the search asks for is checked.
"""
import math

import numpy as np
import pytest
from conftest import point_at_centre
from hypothesis import given, settings
from hypothesis import strategies as st

import nervesim
from nervesim.errors import ParameterError
from nervesim.simulation import SimulationResult
from nervesim.threshold import (
    MIN_TOLERANCE,
    ThresholdSearchError,
    activation_window,
    round_limit,
    search_threshold,
)

FIBRE = nervesim.build_fibre("mrg-interp", 10.0, 51)
VE = point_at_centre(FIBRE, 1000.0).potentials(FIBRE)


class Synthetic:
    """A fake engine whose outcome at amplitude a is ``rule(a)`` ('fired', 'excited' or 'silent').

    It refuses an amplitude it has already run, so a search that re-probes fails at once.
    """

    def __init__(self, rule):
        self.rule, self.fibre, self.ve_mV = rule, FIBRE, VE
        self.wave = -np.ones(10)
        self.asked = []

    def run_many(self, amplitudes_mA, *, early_exit=True):
        out = []
        for a in amplitudes_mA:
            assert a not in self.asked, f"amplitude {a} probed twice"
            self.asked.append(a)
            out.append(self._result(a, self.rule(a)))
        return out

    def _result(self, a, outcome):
        n = FIBRE.n_nodes
        counts, times = np.zeros(n, dtype=np.int64), np.full(n, np.nan)
        c = FIBRE.centre_node
        if outcome == "fired":  # an AP from the centre reaching every node
            counts[:] = 1
            times = 0.5 + 0.01 * np.abs(np.arange(n) - c)
        elif outcome == "excited":  # the centre crosses -30 mV, nothing conducts
            counts[c] = 1
            times[c] = 0.5
        return SimulationResult(fibre=FIBRE, amplitude_mA=a, dt_ms=0.005, tstop_ms=5.1, steps_run=100,
                                ap_times_ms=times, ap_counts=counts, crossing_ms=times - 0.001)


def window(a, b, c=math.inf):
    """Fires in [a, b) and from c on, excited but blocked in [b, c), silent below a."""
    return lambda x: "fired" if a <= x < b or x >= c else ("excited" if x >= b else "silent")


def test_doubling_into_a_block_window_terminates_at_the_window():
    # Ladder 0.1, 0.2 | 0.4, 0.8: 0.4 is silent, 0.8 blocked. The old search then re-probed 0.2 and 0.4
    # for ever; the window [0.45, 0.5) lies between them.
    eng = Synthetic(window(0.45, 0.5))
    res = search_threshold(eng, start_mA=0.1, tolerance=1e-3)
    sub, supra = res.bracket_mA
    assert sub < 0.45 <= supra and (supra - sub) / supra <= 1e-3
    assert len(set(eng.asked)) == len(eng.asked) == res.n_runs
    assert res.n_rounds <= round_limit(1e-6, 1e3, 1e-3)
    assert any(f.startswith("non_monotonic") for f in res.flags)
    assert any(f.startswith("ap_not_detected") for f in res.flags)


def test_blocked_everywhere_above_the_silent_range_lists_what_was_tried():
    eng = Synthetic(window(0.45, 0.45))  # excited but never detected from 0.45 mA on
    with pytest.raises(ThresholdSearchError) as info:
        search_threshold(eng, start_mA=0.1, max_mA=10.0)
    msg = str(info.value)
    assert "does not fire up to max_mA" in msg and "fires" not in msg.replace("does not fire", "")
    assert "0.1-" in msg and "10~" in msg  # silent and excited-but-undetected amplitudes are marked apart
    assert [a for a, _ in info.value.runs] == eng.asked
    assert {o for _, o in info.value.runs} == {"silent", "excited"}


def test_excited_but_never_detected_down_to_min_reports_that_not_firing():
    eng = Synthetic(lambda a: "excited")
    with pytest.raises(ThresholdSearchError, match=r"excited but the AP is not detected .* even at min_mA") as info:
        search_threshold(eng, start_mA=1.0, min_mA=0.01)
    assert "fires" not in str(info.value) and "1~" in str(info.value) and "0.01~" in str(info.value)


def test_fires_at_min_is_reported_as_firing():
    eng = Synthetic(lambda a: "fired")
    with pytest.raises(ThresholdSearchError, match=r"fires even at min_mA .*0\.01\+"):
        search_threshold(eng, start_mA=1.0, min_mA=0.01)


def test_a_round_limit_ends_with_what_was_tried():
    eng = Synthetic(window(0.45, 1e9))
    with pytest.raises(ThresholdSearchError, match=r"after 3 rounds .*0\.1-.*0\.8\+") as info:
        search_threshold(eng, start_mA=0.1, max_rounds=3)
    assert len(info.value.runs) == 6


@pytest.mark.parametrize("tolerance", [1e-15, 0.0, 5e-10])
def test_tolerance_below_float_bisection_is_refused(tolerance):
    with pytest.raises(ParameterError, match=r"tolerance=.*from 1e-09") as info:
        search_threshold(Synthetic(window(0.45, 1e9)), tolerance=tolerance)
    assert info.value.parameter == "tolerance"


def test_smallest_tolerance_converges_without_repeats():
    eng = Synthetic(window(0.3, 1e9))
    res = search_threshold(eng, tolerance=MIN_TOLERANCE, start_mA=0.1)
    sub, supra = res.bracket_mA
    assert sub < 0.3 <= supra and (supra - sub) / supra <= MIN_TOLERANCE
    assert res.n_rounds <= round_limit(1e-6, 1e3, MIN_TOLERANCE)


def step(threshold):
    return lambda a: "fired" if a >= threshold else "silent"


@pytest.mark.parametrize("probes, first", [(1, [0.5]), (2, [0.5 / 1.01 ** 0.5, 0.5 * 1.01 ** 0.5]),
                                           (3, [0.5 / 1.01 ** 0.5, 0.5, 0.5 * 1.01 ** 0.5])])
def test_span_centres_the_first_round_on_the_start(probes, first):
    eng = Synthetic(step(0.5 * 1.002))
    res = search_threshold(eng, tolerance=1e-3, start_mA=0.5, span=1.01, probes=probes)
    assert eng.asked[:probes] == pytest.approx(first, rel=1e-15)
    sub, supra = res.bracket_mA
    assert sub < 0.5 * 1.002 <= supra and (supra - sub) / supra <= 1e-3


def test_a_good_prediction_is_bracketed_in_two_runs():
    # One amplitude per round and a first span of one tolerance: a start within the tolerance below the
    # threshold brackets it with the second run (a cold search from there climbs by 2 and bisects: 12 runs).
    eng = Synthetic(step(0.1234))
    res = search_threshold(eng, tolerance=1e-3, start_mA=0.1234 * (1 - 4e-4), span=1.001, probes=1)
    assert res.n_runs == 2 and res.bracket_mA == pytest.approx((0.1234 * (1 - 4e-4), 0.1234 * (1 - 4e-4) * 1.001))


@pytest.mark.parametrize("threshold", [37.0, 1e-3 / 37])
def test_a_narrow_span_that_misses_widens_by_squaring(threshold):
    eng = Synthetic(step(threshold))
    res = search_threshold(eng, tolerance=1e-3, start_mA=1.0, span=1.001, probes=1)
    sub, supra = res.bracket_mA
    assert sub < threshold <= supra and (supra - sub) / supra <= 1e-3
    # The ladder steps 1.001, 1.001^2, 1.001^4, ... until the ratio reaches expand = 2, then 2.
    ratios = [max(b / a, a / b) for a, b in zip(eng.asked, eng.asked[1:])]
    expected = [min(2.0, 1.001 ** 2 ** k) for k in range(11)]
    assert ratios[:11] == pytest.approx(expected, rel=1e-12)
    assert res.n_rounds <= round_limit(1e-6, 1e3, 1e-3, 2.0, 1, span=1.001)


@pytest.mark.parametrize("span", [1.0, 0.5, 101.0, float("nan")])
def test_bad_span_is_refused(span):
    with pytest.raises(ParameterError) as info:
        search_threshold(Synthetic(step(0.3)), start_mA=0.1, span=span)
    assert info.value.parameter == "span"


@settings(max_examples=150, deadline=None)
@given(st.floats(-5.0, 2.5), st.floats(-5.0, 2.5), st.floats(1e-4, 1.0), st.sampled_from([1e-2, 1e-3, 1e-6]),
       st.integers(1, 4))
def test_any_warm_start_ends_in_the_bracket_within_the_round_limit(log_threshold, log_start, log_span, tolerance,
                                                                  probes):
    threshold, span = 10 ** log_threshold, 10 ** log_span
    eng = Synthetic(step(threshold))
    res = search_threshold(eng, tolerance=tolerance, start_mA=10 ** log_start, span=span, probes=probes)
    sub, supra = res.bracket_mA
    assert sub < threshold <= supra and (supra - sub) / supra <= tolerance
    assert len(set(eng.asked)) == len(eng.asked)
    assert res.n_rounds <= round_limit(1e-6, 1e3, tolerance, 2.0, probes, span)


# Response profiles: outcomes on random intervals of log-amplitude.
profiles = st.lists(st.tuples(st.floats(-5.0, 2.5), st.sampled_from(["fired", "excited", "silent"])),
                    min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(profiles, st.sampled_from(["silent", "excited", "fired"]), st.floats(-5.0, 2.5),
       st.sampled_from([1e-2, 1e-3, 1e-6]), st.integers(1, 4))
def test_any_response_ends_in_a_valid_bracket_or_a_clear_error(steps, first, log_start, tolerance, probes):
    edges = sorted((10 ** e, o) for e, o in steps)

    def rule(a):
        out = first
        for e, o in edges:
            if a >= e:
                out = o
        return out

    eng = Synthetic(rule)
    try:
        res = search_threshold(eng, tolerance=tolerance, start_mA=10 ** log_start, min_mA=1e-6, max_mA=1e3,
                               probes=probes)
    except ThresholdSearchError as exc:
        assert [a for a, _ in exc.runs] == eng.asked
        return
    sub, supra = res.bracket_mA
    assert rule(supra) == "fired" and rule(sub) != "fired"
    assert (supra - sub) / supra <= tolerance
    assert not any(sub < a < supra for a in eng.asked)
    assert len(set(eng.asked)) == len(eng.asked)
    assert res.n_rounds <= round_limit(1e-6, 1e3, tolerance, 2.0, probes)
    if first == "silent" and all(o == "fired" for _, o in edges):  # monotone: the one threshold
        assert sub < edges[0][0] <= supra


@pytest.mark.parametrize("a, b, c", [(0.2, 0.8, 1.5), (0.05, 3.0, 1e9), (0.3, 0.31, 0.5), (0.05, 1e9, 1e9)])
def test_activation_window_brackets_onset_and_reexcitation(a, b, c):
    eng = Synthetic(window(a, b, c))
    w = activation_window(eng, tolerance=1e-3, max_mA=10.0, ratio=1.05)
    lo, hi = w.threshold.bracket_mA
    assert lo < a <= hi
    if b > 10.0:  # no block up to max_mA
        assert w.block_onset_mA is None and w.block_bracket_mA is None and w.reexcitation_mA is None
        assert w.scanned_to_mA == 10.0
        return
    blo, bhi = w.block_bracket_mA
    assert blo < b <= bhi == w.block_onset_mA and (bhi - blo) / bhi <= 1e-3
    if c > 10.0:
        assert w.reexcitation_mA is None and w.reexcitation_bracket_mA is None and w.scanned_to_mA == 10.0
        return
    rlo, rhi = w.reexcitation_bracket_mA
    assert rlo < c <= rhi == w.reexcitation_mA and (rhi - rlo) / rhi <= 1e-3
    assert len(set(eng.asked)) == len(eng.asked)


