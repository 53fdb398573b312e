"""The analysis subcommands (sd-curve, recruitment, threshold-curve, block): input and output paths
checked before computing, errors that name the flag, outputs that record what was computed."""
import io
import json

import pytest
from conftest import one_line_error

import nervesim
from nervesim.cli import main
from nervesim.threshold import find_threshold

POINT = ["--x-um", "1000", "--y-um", "0", "--sigma", "0.2"]
SD = ["sd-curve", "--model", "mrg-interp", "--diameter-um", "10", *POINT, "--pulse", "mono", "--dt-ms", "0.005",
      "--nodes", "21"]
WIDTHS = ["--widths-ms", "0.05,0.1,0.2,0.5"]
REC = ["recruitment", "--model", "mrg-interp", "--cuff", "livanova2000", "--nerve-diameter-um", "2000", "--fibres", "4",
       "--diameters-um", "4,10", "--pulse", "biphasic", "--width-ms", "0.25", "--nodes", "31", "--dt-ms", "0.005"]
TC = ["threshold-curve", "--model", "mrg-interp", "--vary", "distance", "--values", "500,1000", "--diameter-um", "10",
      "--sigma", "0.2", "--pulse", "mono", "--width-ms", "0.1", "--dt-ms", "0.005", "--nodes", "21"]
TC_DIAMETER = ["threshold-curve", "--model", "mrg-interp", "--vary", "diameter", "--values", "6,10", "--distance-um",
               "1000", "--sigma", "0.2", "--pulse", "mono", "--width-ms", "0.1", "--dt-ms", "0.005", "--nodes", "21"]
BLOCK = ["block", "--model", "mrg-interp", "--diameter-um", "10", *POINT, "--nodes", "21"]


@pytest.fixture
def no_simulation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("simulated before the input was checked")
    monkeypatch.setattr(nervesim.Stimulation, "run_many", refuse)
    monkeypatch.setattr(nervesim.Stimulation, "run", refuse)



def with_flag(args, flag, value):
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


@pytest.mark.parametrize("args, flag, says", [
    (SD + ["--widths-ms", "0.1,0.1,0.1"], "--widths-ms", "0.1 ms is given more than once"),
    (SD + ["--widths-ms", "0.1,0.2"], "--widths-ms", "at least three distinct"),
    (SD + ["--widths-ms", "0.1,0.2,-0.1"], "--widths-ms", "-0.1 is not a positive pulse width"),
    (SD + ["--widths-ms", "0.1,0.2,0.0051"], "--widths-ms/--gap-ms/--dt-ms", "not a multiple of dt_ms"),
    (SD + WIDTHS + ["--tolerance", "2"], "--tolerance", "tolerance=2"),
    (BLOCK + ["--frequency-khz", "3"], "--frequency-khz", "use 2.941 or 3.03 kHz"),
    (BLOCK + ["--frequency-khz", "0.001"], "--frequency-khz", "must lie in 0.06667-100 kHz"),
    (BLOCK + ["--frequency-khz", "10", "--dt-ms", "0.007"], "--frequency-khz", "not a whole number of dt_ms=0.007"),
    (REC + ["--tolerance", "2"], "--tolerance", "tolerance=2"),
    (REC + ["--max-ma", "-1"], "--max-ma", "max_mA=-1.0"),
    (with_flag(REC, "--fibres", "0"), "--fibres", "positive integer"),
    (with_flag(REC, "--diameters-um", "10,2"), "--diameters-um", "0 < LO <= HI"),
    (with_flag(REC, "--diameters-um", "2,5,10"), "--diameters-um", "give the range as LO, HI"),
    (REC + ["--seed", "-1"], "--seed", "non-negative integer"),  # before: numpy's message, no flag
    (REC + ["--x-um", "500"], "--x-um/--y-um", "places the fibres in the nerve itself"),
    (with_flag(TC, "--values", "500,3"), "--values", "3 um puts the source inside the 10 um fibre"),
    (with_flag(TC_DIAMETER, "--values", "6,40"), "--values", "outside model"),
    (with_flag(TC_DIAMETER, "--distance-um", "2"), "--distance-um", "inside or on the fibre"),
])
def test_bad_input_names_its_flag_before_any_computation(capsys, no_simulation, args, flag, says):
    # before: 0.1,0.1,0.1 gave a fit; tolerance 2 gave exit 0 with every fibre "failed"; 3 kHz named --width-ms
    err = one_line_error(capsys, args)
    assert f"argument {flag}:" in err and says in err


@pytest.mark.parametrize("args", [SD + WIDTHS, REC, TC, BLOCK], ids=["sd-curve", "recruitment", "threshold-curve",
                                                                     "block"])
@pytest.mark.parametrize("plot, says", [("missing/a.png", "does not exist"), ("a.txt", "must end in")])
def test_plot_path_checked_before_any_computation(capsys, no_simulation, tmp_path, args, plot, says):
    err = one_line_error(capsys, args + ["--plot", str(tmp_path / plot)])
    assert "argument --plot:" in err and says in err


def test_sd_curve_records_its_inputs(capsys):
    assert main(SD + WIDTHS + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    f = nervesim.build_fibre("mrg-interp", 10.0, 21)
    z = f.node_z_um[f.centre_node]
    assert out["inputs"] == {
        "model": "mrg-interp", "nodes": 21, "temperature_c": None, "dt_ms": 0.005, "tolerance": 0.001,
        "max_mA": 1000.0, "fast": False, "diameter_um": 10.0, "pulse": "mono", "polarity": "cathodic", "gap_ms": 0.0,
        "widths_ms": [0.05, 0.1, 0.2, 0.5], "nervesim_version": nervesim.__version__,
        "electrode": {"kind": "point", "x_um": 1000.0, "y_um": 0.0, "z_um": z, "sigma_S_m": 0.2}}
    el = nervesim.Electrode.point(1000.0, 0.0, z, 0.2)
    assert out["thresholds"][1] == [0.1, find_threshold(f, el, nervesim.Waveform.monophasic(0.1),
                                                        dt_ms=0.005).threshold_mA]
    assert main(SD + WIDTHS) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == ("strength-duration of mrg-interp 10 um (21 nodes), mono cathodic pulses; electrode at "
                     f"(1000, 0, {z:.1f}) um in sigma 0.2 S/m; dt 0.005 ms, tolerance 0.001")


def test_recruitment_records_inputs_and_shows_the_onset(capsys):
    assert main(REC + ["--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress output when stderr is not a terminal (before: "1/4 fibres2/4 ...")
    out = json.loads(captured.out)
    sigma = list(nervesim.Medium.preset("endoneurium").sigma_xyz_S_m)
    assert out["inputs"] == {
        "model": "mrg-interp", "nodes": 31, "temperature_c": None, "dt_ms": 0.005, "tolerance": 0.001,
        "max_mA": 1000.0, "fast": False, "fibres": 4, "diameter_range_um": [4.0, 10.0], "nerve_diameter_um": 2000.0,
        "seed": 0,
        "waveform": "biphasic cathodic-first 0.25 ms/phase, gap 0 ms", "currents": "default",
        "nervesim_version": nervesim.__version__,
        "electrode": {"kind": "cuff", "cuff": "livanova2000", "nerve_diameter_um": 2000.0, "z_um": 0.0,
                      "medium": "endoneurium", "sigma_xyz_S_m": sigma}}
    # The default currents run from no fibre to every fibre (before: 0.25 mA, with 57 % already recruited).
    frac = out["fraction_activated"]
    assert frac[0] == 0.0 and frac[-1] == 1.0 and frac == sorted(frac)
    assert out["currents_mA"][0] < min(out["thresholds_mA"]) and out["currents_mA"][-1] > max(out["thresholds_mA"])


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("extra, shown", [([], True), (["--quiet"], False), (["--json"], False)])
def test_recruitment_progress_bar(capsys, monkeypatch, extra, shown):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(REC + ["--currents-ma", "0.5,1"] + extra) == 0
    bar = terminal.getvalue()
    if shown:  # one tqdm bar redrawn in place on the terminal, ending at 4/4 fibres
        assert "4/4" in bar and "fibre/s" in bar and "\r" in bar and "fibres2/" not in bar
    else:
        assert bar == ""
    if not extra:
        assert capsys.readouterr().out.splitlines()[0].startswith(
            "recruitment of 4 mrg-interp fibres (4-10 um, 31 nodes, seed 0) in a 2000 um nerve; biphasic")


def test_threshold_curve_records_what_was_held_fixed(capsys):
    assert main(TC + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inputs"]["vary"] == "distance" and out["inputs"]["diameter_um"] == 10.0
    assert out["inputs"]["sigma_S_m"] == 0.2 and out["inputs"]["waveform"] == "monophasic cathodic 0.1 ms"
    assert main(TC_DIAMETER) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("threshold vs diameter: mrg-interp, distance 1000 um, 21 nodes; point source over the "
                            "centre node in sigma 0.2 S/m")


def test_block_records_its_inputs(capsys, tmp_path):
    assert main(BLOCK + ["--fast", "--json", "--plot", str(tmp_path / "b.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inputs"]["fast"] is True
    assert out["inputs"]["frequency_khz"] == 10.0 and out["inputs"]["electrode"]["sigma_S_m"] == 0.2
    assert out["inputs"]["diameter_um"] == 10.0 and out["inputs"]["nodes"] == 21 and out["inputs"]["tolerance"] == 0.01
    assert (tmp_path / "b.png").stat().st_size > 10_000


def test_sd_curve_width_without_threshold(capsys):
    # 20 us pulses need about 0.35 mA at 1 mm: above --max-ma 0.1 (before: ignored), so that width has no threshold.
    args = SD + ["--widths-ms", "0.02,0.2,0.5,1", "--max-ma", "0.1"]
    assert main(args + ["--json"]) == 0

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")  # before: NaN for the failed width
    out = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert out["thresholds"][0] == [0.02, None] and len(out["flags"]) == 1
    assert main(args) == 0
    assert "width     0.02 ms  no threshold" in capsys.readouterr().out


def test_threshold_curve_takes_max_ma(capsys):
    # 2 mm needs about 0.39 mA (10 um, 0.1 ms, 0.2 S/m): above --max-ma 0.2, which was ignored before.
    assert main(with_flag(TC, "--values", "500,2000") + ["--max-ma", "0.2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["thresholds"][1] == [2000.0, None] and "0.2] mA" in out["errors"][0]
