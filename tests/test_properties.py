"""Property-based tests (hypothesis): the threshold search on synthetic responses whose true threshold is
known, the Waveform validators, and the CLI on hostile flag values."""
import contextlib
import io
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nervesim
from nervesim.cli import main
from nervesim.errors import ParameterError
from nervesim.simulation import SimulationResult
from nervesim.threshold import ThresholdSearchError, round_limit, search_threshold

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIBRE = nervesim.build_fibre("mrg-interp", 10.0, 21)
DT_MS = 0.005


def response(outcome: str) -> SimulationResult:
    """A run of `FIBRE` that fired (AP from the centre node to both ends), was excited at the centre only
    (blocked before the detection node) or stayed silent."""
    n = FIBRE.n_nodes
    counts, times = np.zeros(n, int), np.full(n, np.nan)
    if outcome != "silent":
        reach = np.arange(n) if outcome == "fired" else np.array([FIBRE.centre_node])
        counts[reach] = 1
        times[reach] = 0.5 + 0.02 * np.abs(reach - FIBRE.centre_node)
    return SimulationResult(fibre=FIBRE, amplitude_mA=0.0, dt_ms=DT_MS, tstop_ms=5.0, steps_run=1000,
                            ap_times_ms=times, ap_counts=counts, crossing_ms=times.copy())


class Synthetic:
    """A runner whose outcome depends only on the amplitude: fires in [threshold, block), excited (AP blocked)
    at and above ``block``, silent below ``threshold``."""

    def __init__(self, threshold_mA: float, block_mA: float = math.inf) -> None:
        self.fibre, self.threshold_mA, self.block_mA = FIBRE, threshold_mA, block_mA
        self.ve_mV = np.zeros(FIBRE.n_sections)
        self.wave = np.r_[-np.ones(20), np.zeros(1000)]
        self.tried: list[float] = []

    def run_many(self, amplitudes_mA, *, early_exit=True):
        self.tried += list(amplitudes_mA)
        return [response("excited" if a >= self.block_mA else "fired" if a >= self.threshold_mA else "silent")
                for a in amplitudes_mA]


log_amplitude = st.floats(-5.0, 2.5).map(lambda e: 10.0 ** e)
tolerances = st.floats(-6.0, -0.5).map(lambda e: 10.0 ** e)


@FAST
@given(threshold=log_amplitude, start=log_amplitude, tolerance=tolerances, probes=st.integers(1, 4),
       expand=st.floats(1.2, 10.0))
def test_search_brackets_a_monotone_threshold(threshold, start, tolerance, probes, expand):
    runner = Synthetic(threshold)
    res = search_threshold(runner, tolerance=tolerance, start_mA=start, probes=probes, expand=expand)
    sub, supra = res.bracket_mA
    assert sub < threshold <= supra == res.threshold_mA
    assert (supra - sub) / supra <= tolerance
    assert res.n_rounds <= round_limit(1e-6, 1e3, tolerance, expand, probes)
    assert res.n_runs == len(runner.tried) == len(set(runner.tried))  # no amplitude run twice
    assert [a for a, _ in res.runs] == runner.tried
    assert all((o == "fired") == (a >= threshold) for a, o in res.runs)
    assert res.flags == () and res.initiation_node == FIBRE.centre_node


@FAST
@given(threshold=log_amplitude, width=st.floats(1.5, 100.0), start=log_amplitude, tolerance=tolerances)
def test_search_finds_the_activation_window_below_a_block(threshold, width, start, tolerance):
    """Above ``block`` the AP is blocked (excited, not detected): the window [threshold, block) is found from
    any start, and the block is flagged when it was probed."""
    block = threshold * width
    assume(block < 1e3)
    res = search_threshold(Synthetic(threshold, block), tolerance=tolerance, start_mA=start)
    sub, supra = res.bracket_mA
    assert sub < threshold <= supra < block and (supra - sub) / supra <= tolerance
    blocked = any(o == "excited" for _, o in res.runs)
    assert blocked == any(f.startswith("ap_not_detected") for f in res.flags)


@FAST
@given(threshold=st.one_of(st.floats(1.01e3, 1e6), st.floats(1e-12, 1e-6)), start=log_amplitude)
def test_no_bracket_outside_the_range_raises_with_what_was_tried(threshold, start):
    runner = Synthetic(threshold)
    with pytest.raises(ThresholdSearchError) as err:
        search_threshold(runner, start_mA=start, min_mA=1e-6, max_mA=1e3)
    assert len(err.value.runs) == len(runner.tried) > 0
    assert "max_mA" in str(err.value) if threshold > 1e3 else "min_mA" in str(err.value)


@FAST
@given(threshold=log_amplitude, max_rounds=st.integers(1, 6))
def test_round_limit_is_never_exceeded(threshold, max_rounds):
    runner = Synthetic(threshold)
    try:
        res = search_threshold(runner, tolerance=1e-6, start_mA=1e-3, max_rounds=max_rounds)
    except ThresholdSearchError as err:
        assert f"{max_rounds} rounds" in str(err)
    else:
        assert res.n_rounds <= max_rounds
    assert len(runner.tried) <= 2 * max_rounds  # PROBES_PER_ROUND amplitudes per round


# Waveforms: every argument either builds a waveform whose charges add up, or is refused with a ParameterError.
any_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 0.1, 0.05, 1e300]))
polarity = st.sampled_from(["cathodic", "anodic", "negative", "", "CATHODIC"])


@FAST
@given(width=any_float, gap=any_float, delay=any_float, ratio=any_float, pol=polarity,
       kind=st.sampled_from(["monophasic", "biphasic", "asymmetric"]))
def test_waveform_constructors_validate(width, gap, delay, ratio, pol, kind):
    try:
        if kind == "monophasic":
            w = nervesim.Waveform.monophasic(width, pol, delay_ms=delay)
        elif kind == "biphasic":
            w = nervesim.Waveform.biphasic(width, pol, gap_ms=gap, delay_ms=delay)
        else:
            w = nervesim.Waveform.asymmetric_biphasic(width, ratio, pol, gap_ms=gap, delay_ms=delay)
    except ParameterError as exc:
        assert exc.parameter in {"width_ms", "gap_ms", "delay_ms", "ratio", "polarity"}
        return
    assert width > 0 and math.isfinite(width) and pol in ("cathodic", "anodic")
    assume(kind != "asymmetric" or math.isfinite(width * ratio))  # the overflow is its own test below
    charges = w.charge_per_phase(2.0)
    assert math.copysign(1.0, charges[0]) == (-1.0 if pol == "cathodic" else 1.0)
    assert charges[0] == pytest.approx(2.0 * width * (-1 if pol == "cathodic" else 1))
    if kind != "monophasic":
        assert w.net_charge() == pytest.approx(0.0, abs=1e-12 * width)


def test_asymmetric_phase_that_overflows_is_refused():
    with pytest.raises(ParameterError) as err:
        nervesim.Waveform.asymmetric_biphasic(1.8e8, 1e300)
    assert err.value.parameter == "ratio"


@FAST
@given(t=st.lists(any_float, min_size=0, max_size=6), v=st.lists(any_float, min_size=0, max_size=6))
def test_sampled_waveform_validates(t, v):
    assume(any(x != 0 for x in v))  # an all-zero waveform: test_all_zero_sampled_waveform_is_refused
    try:
        w = nervesim.Waveform.sampled(t, v)
    except ParameterError as exc:
        assert exc.parameter == "waveform"
        return
    assert len(t) == len(v) + 1 and all(map(math.isfinite, t + v)) and t[0] >= 0
    assert np.all(np.diff(t) > 0)
    # One phase per non-zero level, ending where the last non-zero level ends.
    assert w.charge_per_phase() == pytest.approx([(b - a) * x for a, b, x in zip(t, t[1:], v) if x != 0])
    assert w.end_ms == pytest.approx(max(b for b, x in zip(t[1:], v) if x != 0), rel=1e-15)


def test_all_zero_sampled_waveform_is_refused():
    with pytest.raises(ParameterError) as err:
        nervesim.Waveform.sampled([0.0, 1.0], [0.0])
    assert err.value.parameter == "waveform"


# The CLI: the quick-start command made cheap (21 nodes, 5 % bracket), with one or two flags replaced by
# hostile values. Every outcome is exit 0, 1 (no bracket) or 2 with exactly one line on stderr; never a traceback.
BASE = {"--model": "mrg-interp", "--diameter-um": "10", "--x-um": "1000", "--y-um": "0", "--sigma": "0.2",
        "--pulse": "mono", "--width-ms": "0.1", "--dt-ms": "0.005", "--nodes": "21", "--tolerance": "0.05"}
HOSTILE = ["", " ", "-1", "-0", "0", "nan", "-nan", "inf", "-inf", "1e300", "-1e300", "1e-300", "1,2", ",", "abc",
           "0x10", "1e", "-1e6", "5.5", "1_0", "١٠"]
# Flags whose valid values set the size of the run: hostile values plus cheap valid ones (the size limits
# themselves are tested with the CLI), so the file stays fast.
COSTLY = {"--dt-ms": ["0.01", "0.025"], "--width-ms": ["0.05", "0.5"], "--nodes": ["11", "23", "4", "3"],
          "--tolerance": ["0.5", "1e-12"], "--tstop-ms": ["2", "0.01"], "--gap-ms": ["0.05"],
          "--max-ma": ["0.001", "5"]}
OVERFLOW = {"--x-um", "--y-um", "--z-um", "--sigma"}  # squared or multiplied in the point-source potential
FREE = ["--diameter-um", "--x-um", "--y-um", "--z-um", "--sigma", "--temperature-c", "--nerve-diameter-um"]
#: Flags taking names or paths.
NAMED = {"--model": ["mrg-small", "mrg-discrete"], "--pulse": ["biphasic"], "--polarity": ["anodic"],
         "--sigma-xyz": ["0.1,0.1,0.5", "0.1,0,0.5", "1,2"], "--medium": ["saline", "fat"],
         "--cuff": ["livanova2000"], "--electrode-file": ["/nonexistent/ve.csv", "/tmp", "/dev/null"]}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``nervesim ARGV`` in this process: (exit status, stdout, stderr), stderr with the warnings a user's
    interpreter would print (pytest would otherwise collect them silently)."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("default")
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    hidden = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)  # Python's defaults
    shown = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught
                    if not issubclass(w.category, hidden))
    return code, out.getvalue(), err.getvalue() + shown


@pytest.mark.parametrize("flag", ["--width-ms", "--dt-ms", "--tolerance"])
def test_double_dash_value_is_refused(flag):
    # argparse drops a "--" value and used to hand the handler an empty list (a TypeError traceback)
    code, _, stderr = run_cli(["threshold"] + [f"{k}={v}" for k, v in {**BASE, flag: "--"}.items()])
    assert code == 2 and stderr.count("\n") == 1 and f"argument {flag}: '--' is not a value" in stderr


@pytest.mark.parametrize("flag, value", [("--x-um", "1e300"), ("--y-um", "-1e300"), ("--z-um", "1e300"),
                                         ("--sigma", "1e300"), ("--sigma", "1e-300")])
def test_overflowing_source_is_refused_cleanly(flag, value):
    code, _, stderr = run_cli(["threshold"] + [f"{k}={v}" for k, v in {**BASE, flag: value}.items()])
    assert code == 2 and stderr.count("\n") == 1 and "Warning" not in stderr and f"argument {flag}" in stderr


def tame(value: str) -> str:
    """Clip a finite non-zero number to 1e-100..1e100 in magnitude (beyond that the point-source potential
    over- or underflows: test_overflowing_source_is_refused_cleanly)."""
    try:
        x = float(value)
    except ValueError:
        return value
    if math.isfinite(x) and x != 0 and not 1e-100 <= abs(x) <= 1e100:
        return repr(math.copysign(1e100 if abs(x) > 1 else 1e-100, x))
    return value


@st.composite
def flag_changes(draw):
    changes = {}
    for _ in range(draw(st.integers(1, 2))):
        flag = draw(st.sampled_from(sorted(COSTLY) + FREE + sorted(NAMED)))
        if flag in COSTLY:
            value = draw(st.sampled_from(HOSTILE + COSTLY[flag]))
        elif flag in FREE:
            value = draw(st.one_of(st.sampled_from(HOSTILE), st.floats(-1e4, 1e4).map(repr)))
            if flag in OVERFLOW:
                value = tame(value)
        else:
            value = draw(st.sampled_from(HOSTILE + NAMED[flag]))
        changes[flag] = value
    return changes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=flag_changes())
def test_cli_threshold_never_crashes(changes):
    flags = {**BASE, **changes}
    # Give each alternative electrode a chance to get past the "only one electrode" check.
    drop = {"--sigma-xyz": ["--sigma"], "--medium": ["--sigma"], "--electrode-file": ["--x-um", "--y-um", "--sigma"]}
    for flag in changes:
        for other in drop.get(flag, ()):
            if other not in changes:
                flags.pop(other, None)
    argv = ["threshold"] + [f"{k}={v}" for k, v in flags.items()]  # "=" so values may start with "-"
    code, stdout, stderr = run_cli(argv)
    assert "Traceback" not in stderr and "Warning" not in stderr, (argv, stderr)
    assert code in (0, 1, 2), (argv, code, stderr)
    if code == 2:
        assert stderr.count("\n") == 1 and stderr.startswith("nervesim threshold: error: argument "), (argv, stderr)
    elif code == 0:
        assert "threshold " in stdout
