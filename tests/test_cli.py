"""The ``nervesim threshold`` command: JSON contract, report, bad input."""
import json
import subprocess
import sys

import pytest

from nervesim.cli import main

CASE = ["threshold", "--model", "mrg-interp", "--diameter-um", "10", "--x-um", "1000", "--y-um", "0",
        "--sigma", "0.2", "--pulse", "mono", "--width-ms", "0.1", "--dt-ms", "0.005"]


def test_json_output(capsys):
    assert main(CASE + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("threshold_mA", "bracket_mA", "n_runs", "initiation_node", "runtime_s", "flags"):
        assert key in out
    assert out["threshold_mA"] > 0 and out["bracket_mA"][1] == out["threshold_mA"]
    assert out["bracket_mA"][0] < out["threshold_mA"] and out["flags"] == []
    assert out["initiation_node"] == 25 and out["nodes"] == 51


def test_human_report(capsys):
    assert main(CASE) == 0
    out = capsys.readouterr().out
    assert "threshold" in out and "mA" in out and "node 25" in out


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "nervesim.cli"] + CASE + ["--json", "--tolerance", "0.01"],
                          capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)["n_runs"] > 2


def replace(args, flag, value):
    args = list(args)
    if value is None:
        i = args.index(flag)
        del args[i:i + 2]
    else:
        args[args.index(flag) + 1] = value
    return args


@pytest.mark.parametrize("args, flag", [
    (replace(CASE, "--diameter-um", "20"), "--diameter-um"),
    (replace(CASE, "--diameter-um", "nan"), "--diameter-um"),
    (replace(CASE, "--model", "hh"), "--model"),
    (replace(CASE, "--x-um", "2"), "--x-um"),
    (replace(CASE, "--sigma", "-0.2"), "--sigma"),
    (replace(replace(CASE, "--sigma", None), "--pulse", "mono") + ["--sigma-xyz", "0.1,0.2"], "--sigma-xyz"),
    (replace(CASE, "--width-ms", "0"), "--width-ms"),
    (replace(CASE, "--width-ms", "0.0123"), "--width-ms"),
    (replace(CASE, "--dt-ms", "inf"), "--dt-ms"),
    (CASE + ["--nodes", "50"], "--nodes"),
    (CASE + ["--gap-ms", "0.1"], "--gap-ms"),
    (CASE + ["--tolerance", "0"], "--tolerance"),
    (CASE + ["--tstop-ms", "0.05"], "--tstop-ms"),
    (CASE + ["--temperature-c", "90"], "--temperature-c"),
    (CASE + ["--polarity", "negative"], "--polarity"),
    (replace(CASE, "--y-um", None), "--y-um"),
])
def test_bad_input_exit_2_one_line(capsys, args, flag):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err


def test_unbracketed_search_exits_1(capsys):
    assert main(CASE + ["--max-ma", "0.01"]) == 1
    assert "no threshold" in capsys.readouterr().err


def test_sd_curve_json(capsys):
    args = ["sd-curve", "--model", "mrg-interp", "--diameter-um", "10", "--x-um", "1000", "--y-um", "0",
            "--sigma", "0.2", "--pulse", "mono", "--widths-ms", "0.05,0.1,0.2,0.5", "--dt-ms", "0.005", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rheobase_mA"] > 0 and out["chronaxie_ms"] > 0
    assert [w for w, _ in out["thresholds"]] == [0.05, 0.1, 0.2, 0.5]


def test_threshold_from_electrode_file_matches_point_source(capsys, tmp_path):

    import nervesim
    from nervesim.extracellular import FilePotentials

    f = nervesim.build_fibre("mrg-interp", 10.0, 51)
    z = f.z_um  # sample exactly at the section centres: interpolation is then exact
    FilePotentials(z, nervesim.Electrode.point(1000.0, 0.0, f.node_z_um[25], 0.2).potentials(f)).to_csv(
        tmp_path / "ve.csv")
    assert main(CASE + ["--json"]) == 0
    point = json.loads(capsys.readouterr().out)
    args = [a for a in CASE if a not in ("--x-um", "1000", "--y-um", "0", "--sigma", "0.2")]
    assert main(args + ["--electrode-file", str(tmp_path / "ve.csv"), "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert from_file["threshold_mA"] == pytest.approx(point["threshold_mA"], rel=1e-12)
    with pytest.raises(SystemExit):
        main(CASE + ["--electrode-file", str(tmp_path / "ve.csv")])
    assert "--electrode-file" in capsys.readouterr().err


def test_recruitment_cli(capsys, tmp_path):
    args = ["recruitment", "--model", "mrg-interp", "--cuff", "livanova2000", "--nerve-diameter-um", "2000",
            "--fibres", "6", "--diameters-um", "2,10", "--pulse", "biphasic", "--width-ms", "0.25", "--nodes", "31",
            "--dt-ms", "0.005", "--currents-ma", "0.1,0.5,1,3.5", "--json", "--plot", str(tmp_path / "r.png")]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["thresholds_mA"]) == 6 and out["fraction_activated"] == sorted(out["fraction_activated"])
    assert (tmp_path / "r.png").exists()


def test_threshold_curve_and_block_cli(capsys, tmp_path):
    base = ["--model", "mrg-interp", "--sigma", "0.2", "--pulse", "mono", "--width-ms", "0.1", "--dt-ms", "0.005",
            "--nodes", "31"]
    assert main(["threshold-curve", "--vary", "distance", "--values", "400,800,1600", "--diameter-um", "8"] + base
                + ["--json", "--plot", str(tmp_path / "c.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    thr = [t for _, t in out["thresholds"]]
    assert thr == sorted(thr) and (tmp_path / "c.png").exists()
    with pytest.raises(SystemExit):
        main(["threshold-curve", "--vary", "diameter", "--values", "4,8"] + base)
    assert "--distance-um" in capsys.readouterr().err
    assert main(["block", "--model", "mrg-interp", "--diameter-um", "10", "--x-um", "1000", "--y-um", "0",
                 "--sigma", "0.2", "--json", "--plot", str(tmp_path / "b.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bracket_mA"][0] < out["block_threshold_mA"] == out["bracket_mA"][1]
    assert (tmp_path / "b.png").stat().st_size > 10_000
