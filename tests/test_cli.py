"""The ``nervesim threshold`` command: JSON contract, report, bad input."""
import json
import subprocess
import sys
import time

import pytest
from conftest import one_line_error

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



POINT = ["--x-um", "1000", "--y-um", "0", "--sigma", "0.2"]


def test_electrode_file_missing_directory_or_header_only(capsys, tmp_path):
    args = [a for a in CASE if a not in POINT]
    (tmp_path / "header.csv").write_text("z_um,ve_mV\n")
    for path, says in ((tmp_path / "missing.csv", "does not exist"), (tmp_path, "is a directory"),
                       (tmp_path / "header.csv", "at least two rows")):
        err = one_line_error(capsys, args + ["--electrode-file", str(path)])
        assert "--electrode-file" in err and says in err


def test_anisotropic_sigma_error_names_the_flag_given(capsys):
    err = one_line_error(capsys, replace(CASE, "--sigma", None) + ["--sigma-xyz", "0.1,0,0.5"])
    assert "argument --sigma-xyz:" in err and "sigma_y" in err


def test_negative_numbers_need_no_equals_sign(capsys):
    # before: argparse read "-1e6" as an option ("expected one argument")
    assert main(replace(CASE, "--y-um", "-1000") + ["--json", "--tolerance", "0.01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["electrode"]["y_um"] == -1000.0
    assert main(["threshold-curve", "--model", "mrg-interp", "--vary", "distance", "--values", "-500,500",
                 "--diameter-um", "10", "--sigma", "0.2", "--pulse", "mono", "--width-ms", "0.1", "--dt-ms", "0.005",
                 "--nodes", "21", "--tolerance", "0.01", "--json"]) == 0
    (_, left), (_, right) = json.loads(capsys.readouterr().out)["thresholds"]
    assert left == right  # mirror images in an isotropic medium


def test_fibre_outside_the_cuffed_nerve_is_refused(capsys):
    cuff = ["--cuff", "livanova2000", "--nerve-diameter-um", "2000"]
    err = one_line_error(capsys, replace(replace(replace(CASE, "--sigma", None), "--x-um", "5000"), "--y-um", "0")
                         + cuff)
    assert "--x-um/--y-um" in err and "2000 um nerve" in err


def test_json_records_medium_and_fibre_position(capsys):
    assert main(CASE + ["--json", "--tolerance", "0.01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["electrode"] == {"kind": "point", "x_um": 1000.0, "y_um": 0.0, "z_um": out["electrode"]["z_um"],
                                "sigma_S_m": 0.2}
    cuff = [a for a in CASE if a not in POINT] + ["--cuff", "livanova2000", "--nerve-diameter-um", "2000",
                                                  "--x-um", "300", "--y-um", "-200", "--medium", "endoneurium"]
    assert main(cuff + ["--json", "--tolerance", "0.01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["electrode"]["fibre_x_um"] == 300 and out["electrode"]["fibre_y_um"] == -200
    assert out["electrode"]["medium"] == "endoneurium" and len(out["electrode"]["sigma_xyz_S_m"]) == 3
    assert main(cuff + ["--tolerance", "0.01"]) == 0
    assert "fibre at (300, -200) um, endoneurium (sigma" in capsys.readouterr().out


def test_output_paths_checked_before_any_computation(capsys, tmp_path, monkeypatch):
    import nervesim.simulation

    def no_runs(*args, **kwargs):
        raise AssertionError("computed before checking the output path")
    monkeypatch.setattr(nervesim.simulation.Stimulation, "run", no_runs)
    sim = ["simulate"] + CASE[1:] + ["--amplitude-ma", "0.15"]
    for flag, path, says in (("--plot", tmp_path / "missing" / "a.png", "does not exist"),
                             ("--plot", tmp_path / "a.txt", "must end in"),
                             ("--csv", tmp_path, "must end in"),
                             ("--csv", tmp_path / "x.csv" / "y.csv", "does not exist")):
        err = one_line_error(capsys, sim + [flag, str(path)])
        assert flag in err and says in err
    store = tmp_path / "store.db"
    sqlite3_file(store)
    err = one_line_error(capsys, sim + ["--csv", str(tmp_path / "out.csv"), "--plot", str(store)])
    assert "must end in" in err
    (tmp_path / "store.csv").write_bytes(store.read_bytes())  # a store renamed .csv: never overwritten
    err = one_line_error(capsys, sim + ["--csv", str(tmp_path / "store.csv")])
    assert "not a csv file" in err


def sqlite3_file(path):
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()


def test_simulate_matches_neuron_traces(capsys, tmp_path):
    """`nervesim simulate --csv` writes Vm of every node; NEURON running the same fibre is the reference."""
    import numpy as np

    import nervesim
    import nervesim.neuron as nrn  # part of .[test]: missing NEURON fails here, never skips
    csv = tmp_path / "vm.csv"
    assert main(["simulate"] + CASE[1:] + ["--amplitude-ma", "0.15", "--tstop-ms", "2", "--csv", str(csv),
                                           "--plot", str(tmp_path / "vm.png"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fired"] and out["initiation_node"] == 25 and (tmp_path / "vm.png").stat().st_size > 20_000
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    f = nervesim.build_fibre("mrg-interp", 10.0, 51)
    el = nervesim.Electrode.point(1000.0, 0.0, f.node_z_um[f.centre_node], 0.2)
    ref = nrn.NeuronStimulation(f, el, nervesim.Waveform.monophasic(0.1), dt_ms=0.005, tstop_ms=2.0).run(
        0.15, record_nodes=range(51))
    assert data.shape == (ref.vm_mV.shape[1], 52)
    assert np.abs(data[:, 1:].T - ref.vm_mV).max() < 1e-6  # the CSV keeps 9 significant digits
    assert out["detection_time_ms"] == pytest.approx(ref.ap_times_ms[f.detection_node], abs=1e-12)
    assert main(["simulate"] + CASE[1:] + ["--amplitude-ma", "0.10", "--tstop-ms", "2"]) == 0
    assert "no node crossed -30 mV by 2 ms" in capsys.readouterr().out  # NEURON: 0.10 mA is sub-threshold


def test_activation_window_edges_agree_with_neuron(capsys):
    """0.5 ms pulses 1 mm from a 12 um fibre block between about 0.8 and 1.5 mA (virtual anode); each reported
    edge is checked by running NEURON at both ends of its bracket."""
    import nervesim
    import nervesim.neuron as nrn

    args = replace(replace(CASE, "--diameter-um", "12"), "--width-ms", "0.5")
    assert main(args + ["--activation-window", "--max-ma", "5", "--tolerance", "0.01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.7 < out["block_onset_mA"] < 0.9 and 1.3 < out["reexcitation_mA"] < 1.6
    f = nervesim.build_fibre("mrg-interp", 12.0, 51)
    el = nervesim.Electrode.point(1000.0, 0.0, f.node_z_um[f.centre_node], 0.2)
    ref = nrn.NeuronStimulation(f, el, nervesim.Waveform.monophasic(0.5), dt_ms=0.005)
    fires_lo, blocked_hi = out["block_bracket_mA"]
    blocked_lo, fires_again = out["reexcitation_bracket_mA"]
    outcome = {a: r.fired for a, r in zip((fires_lo, blocked_hi, blocked_lo, fires_again),
                                           ref.run_many([fires_lo, blocked_hi, blocked_lo, fires_again],
                                                        early_exit=False))}
    assert outcome == {fires_lo: True, blocked_hi: False, blocked_lo: False, fires_again: True}
    assert main(args + ["--activation-window", "--max-ma", "5", "--tolerance", "0.01"]) == 0
    assert f"APs stop reaching the detection node from {blocked_hi:.6g} mA" in capsys.readouterr().out


@pytest.mark.parametrize("change, flag", [
    (("--width-ms", "1e6"), "--width-ms"), (("--dt-ms", "1e-7"), "--dt-ms"), (("--nodes", "100001"), "--nodes")])
def test_oversized_runs_refused_at_once_with_the_estimate(capsys, change, flag):
    args = replace(CASE, *change) if change[0] in CASE else CASE + list(change)
    start = time.perf_counter()
    err = one_line_error(capsys, args)
    assert time.perf_counter() - start < 5 and flag in err and "would take about" in err and "--allow-large" in err
