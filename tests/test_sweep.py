"""Sweeps: spec expansion, the SQLite store, resume after kills, Dask, export and plots."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pytest
from conftest import require

from nervesim.sweep import SpecError, expand, load_results, load_spec, run_sweep

SPEC = """
[sweep]
name = "t"
[fibre]
model = "mrg-interp"
diameter_um = {diameters}
n_nodes = 21
[electrode]
x_um = {distances}
sigma_S_m = 0.2
[waveform]
width_ms = {widths}
[run]
dt_ms = 0.005
"""


def write_spec(path, diameters="[5.7, 10.0]", distances="[500.0, 1000.0]", widths="[0.1]"):
    path.write_text(SPEC.format(diameters=diameters, distances=distances, widths=widths))
    return path


def rows(db):
    with sqlite3.connect(db) as con:
        return {r[0]: r[1:] for r in con.execute("SELECT point_id, threshold_mA, finished_at, status FROM results")}


def test_expand_grid_triples_and_points():
    import tomllib
    spec = tomllib.loads(SPEC.format(diameters="[2.0, 4.0, 8.0]", distances="[100.0, 200.0]", widths="0.1"))
    assert len(expand(spec)) == 6
    spec["electrode"].pop("sigma_S_m")
    spec["electrode"]["sigma_xyz"] = [[0.1, 0.1, 0.5], [0.2, 0.2, 0.2]]
    assert len(expand(spec)) == 12
    spec["electrode"]["sigma_xyz"] = [0.1, 0.1, 0.5]  # one triple is a fixed value, not an axis
    assert len(expand(spec)) == 6
    spec["point"] = [{"fibre.diameter_um": 12.0, "electrode.x_um": 300.0},
                     {"fibre": {"diameter_um": 4.0}, "electrode.x_um": 200}]  # TOML dotted keys; on the grid
    sweep = expand(spec)
    points = list(sweep.points())
    assert len(sweep) == len(points) == 7 and len(set(sweep.ids())) == 7
    assert points[-1]["fibre.diameter_um"] == 12.0 and points[-1]["electrode.x_um"] == 300.0
    with pytest.raises(SpecError, match="fibre.diamter_um"):
        expand({**spec, "fibre": {"diamter_um": 3.0}})
    with pytest.raises(SpecError, match="waveform.width_ms"):
        expand({"fibre": {"model": "mrg-interp", "diameter_um": 3.0}})


def test_fast_mode_axis(tmp_path):
    """run.fast as an axis: each point in both modes, thresholds within the tolerance of each other (the fast
    mode's own error against NEURON is tests/test_fast.py's)."""
    spec = SPEC.format(diameters="[5.7]", distances="[500.0]", widths="[0.1]").replace(
        "dt_ms = 0.005", "dt_ms = 0.005\nfast = [false, true]")
    (tmp_path / "f.toml").write_text(spec)
    res = run_sweep(load_spec(tmp_path / "f.toml"), tmp_path / "f.db", processes=1, progress=False)
    assert (res.total, res.ran, res.failed) == (2, 2, 0)
    df = load_results(tmp_path / "f.db").set_index("run.fast")
    assert df.loc[True, "threshold_mA"] == pytest.approx(df.loc[False, "threshold_mA"], rel=1e-3, abs=0)


def test_run_resume_and_extend(tmp_path):
    db = tmp_path / "r.db"
    s1 = load_spec(write_spec(tmp_path / "a.toml"))
    first = run_sweep(s1, db, processes=2, progress=False)
    assert (first.total, first.ran, first.failed) == (4, 4, 0)
    before = rows(db)
    again = run_sweep(s1, db, processes=2, progress=False)
    assert (again.already_done, again.ran) == (4, 0) and rows(db) == before
    s2 = load_spec(write_spec(tmp_path / "b.toml", distances="[500.0, 1000.0, 2000.0]"))
    extended = run_sweep(s2, db, processes=2, progress=False)
    assert (extended.already_done, extended.ran) == (4, 2)
    after = rows(db)
    assert len(after) == 6 and all(after[k] == v for k, v in before.items())  # old rows untouched
    df = load_results(db)
    assert set(df["fibre.diameter_um"]) == {5.7, 10.0} and (df["status"] == "ok").all()
    assert df["nervesim_version"].iloc[0] and df["model_hash"].str.len().eq(16).all()


def test_failed_point_is_recorded_and_sweep_goes_on(tmp_path):
    # 0.01 mA cannot excite a 10 um fibre 1 mm away (threshold about 0.3 mA): no bracket, at run time.
    spec = write_spec(tmp_path / "f.toml", diameters="10.0", distances="[1000.0]")
    spec.write_text(spec.read_text() + "[[point]]\n'run.max_mA' = 0.01\n'fibre.diameter_um' = 10.0\n"
                    "'electrode.x_um' = 1000.0\n'waveform.width_ms' = 0.1\n")
    db = tmp_path / "f.db"
    summary = run_sweep(load_spec(spec), db, processes=1, progress=False)
    assert (summary.ran, summary.failed) == (2, 1)
    df = load_results(db)
    bad = df[df["run.max_mA"] == 0.01].iloc[0]
    assert bad["status"] == "error" and bad["error"].startswith("ThresholdSearchError: no threshold bracket in")
    assert 0.01 < df[df["run.max_mA"] == 1000.0].iloc[0]["threshold_mA"] < 1000.0


def start_sweep(spec, db):
    # SIGINT handled as at a terminal even when the tests run in the background (bash ignores it there, and Python
    # then installs no KeyboardInterrupt handler)
    return subprocess.Popen([sys.executable, "-m", "nervesim.cli", "sweep", str(spec), "--store", str(db), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_rows(db, n, proc, timeout=120):
    t = time.time()
    while time.time() - t < timeout:
        if db.exists():
            try:
                if len(rows(db)) >= n:
                    return
            except sqlite3.OperationalError:
                pass
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError("sweep too slow")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_sweep_resumes_without_loss_or_duplicates(tmp_path, sig):
    spec = write_spec(tmp_path / "k.toml", diameters="[3.0, 5.0, 7.0, 9.0, 11.0, 13.0]",
                      distances="[300.0, 600.0, 1200.0, 2400.0]", widths="[0.05, 0.1]")
    db = tmp_path / "k.db"
    proc = start_sweep(spec, db)
    wait_rows(db, 5, proc)
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, signal.SIGKILL)  # the owner and its workers, at once
    else:
        os.kill(proc.pid, signal.SIGINT)
    code = proc.wait(60)
    assert code == (-9 if sig == signal.SIGKILL else 130)
    kept = rows(db)
    assert 5 <= len(kept) < 48
    proc = start_sweep(spec, db)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    final = rows(db)
    assert len(final) == 48 and set(final) == set(load_spec(spec).ids())
    assert all(final[k] == v for k, v in kept.items())  # nothing redone, nothing lost
    assert f"{len(kept)} were stored" in out.decode()


def test_dask_local_cluster(tmp_path):
    distributed = require("distributed")
    # 40 points on 2 workers: tasks of 5 points shrinking to 1 (nervesim.sweep._tasks), each point on its own row.
    spec = load_spec(write_spec(tmp_path / "d.toml", diameters="[5.7, 8.0, 10.0, 12.0, 14.0]",
                                distances="[400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0, 1100.0]"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        summary = run_sweep(spec, tmp_path / "d.db", client=client, progress=False)
    assert (summary.ran, summary.failed) == (40, 0)
    run_sweep(spec, tmp_path / "l.db", processes=2, progress=False)
    dask_rows, local_rows = rows(tmp_path / "d.db"), rows(tmp_path / "l.db")
    assert {k: v[0] for k, v in dask_rows.items()} == {k: v[0] for k, v in local_rows.items()}


@pytest.mark.parametrize("points, workers", [(1, 2), (40, 2), (300, 2), (1200, 2), (1200, 8)])
def test_dask_tasks_cover_every_point_once_and_shrink_to_one(points, workers):
    from nervesim.sweep import DASK_POINTS_PER_TASK, _tasks

    tasks = _tasks(list(range(points)), workers)
    sizes = [len(t) for t in tasks]
    assert [p for t in tasks for p in t] == list(range(points))  # every point once, in order
    assert max(sizes) <= DASK_POINTS_PER_TASK and sizes == sorted(sizes, reverse=True) and sizes[-1] == 1
    assert sizes[-4 * workers:] == [1] * min(4 * workers, len(sizes))  # the last few: one point each


def test_cli_dry_run_export_and_plot(tmp_path, capsys):
    from nervesim.cli import main

    spec = write_spec(tmp_path / "c.toml")
    db = tmp_path / "c.db"
    assert main(["sweep", str(spec), "--store", str(db), "--dry-run"]) == 0
    assert "4 points, 0 already" in capsys.readouterr().out and not db.exists()  # a dry run writes nothing
    assert main(["sweep", str(spec), "--store", str(db), "--quiet", "--processes", "1"]) == 0
    assert main(["sweep", str(spec), "--store", str(db), "--dry-run"]) == 0
    assert "4 already" in capsys.readouterr().out
    assert main(["results", str(db), "--csv", str(tmp_path / "o.csv"), "--parquet", str(tmp_path / "o.parquet")]) == 0
    import pandas as pd
    csv, pq = pd.read_csv(tmp_path / "o.csv"), pd.read_parquet(tmp_path / "o.parquet")
    assert len(csv) == len(pq) == 4 and sorted(csv["threshold_mA"]) == sorted(pq["threshold_mA"])
    assert main(["plot", str(db), "--x", "fibre.diameter_um", "--group", "electrode.x_um",
                 "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 5000
    with pytest.raises(SystemExit):
        main(["plot", str(db), "--x", "nope", "--out", str(tmp_path / "p.png")])
    with pytest.raises(SystemExit):
        main(["sweep", str(tmp_path / "missing.toml"), "--store", str(db)])


def worker_pids(parent):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            cmd = open(f"/proc/{entry}/cmdline").read()
        except OSError:
            continue
        if int(stat[1]) == parent and "spawn_main" in cmd and "resource_tracker" not in cmd:
            pids.append(int(entry))
    return pids


def test_a_dying_worker_loses_nothing(tmp_path):
    spec = write_spec(tmp_path / "w.toml", diameters="[3.0, 5.0, 7.0, 9.0, 11.0, 13.0]",
                      distances="[300.0, 600.0, 1200.0, 2400.0]", widths="[0.05, 0.1]")
    db = tmp_path / "w.db"
    proc = start_sweep(spec, db)
    wait_rows(db, 5, proc)
    workers = worker_pids(proc.pid)
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    final = rows(db)
    assert set(final) == set(load_spec(spec).ids()) and len(final) == 48
    assert all(v[2] == "ok" for v in final.values())  # the points in flight were retried, not lost


# --- issue 11 -------------------------------------------------------------------------------

def cli(argv, capsys):
    """Run the CLI; return (status, stdout, stderr)."""
    from nervesim.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def fake_store(db, spec_text, folder=".", threshold=lambda p: 1.0):
    """A store holding every point of a spec with made-up thresholds (what is tested is the
    store's bookkeeping and plotting, not the numbers)."""
    import tomllib

    from nervesim.sweep import ResultStore

    sweep = expand(tomllib.loads(spec_text), "fake", spec_text, folder)
    store = ResultStore(db)
    for p in sweep.points():
        store.add(sweep, p, {"status": "ok", "threshold_mA": threshold(p), "flags": "[]"})
    store.close()
    return sweep


def test_a_batch_of_points_is_stored_whole_or_not_at_all(tmp_path):
    """`ResultStore.add_many` (a Dask task's points) is one transaction: a row that cannot be stored leaves none
    of its batch behind, and the store takes the next batch."""
    import tomllib

    from nervesim.sweep import ResultStore

    text = SPEC.format(diameters="[5.7, 10.0]", distances="[500.0, 1000.0]", widths="0.1")
    sweep = expand(tomllib.loads(text), "batch", text, ".")
    points = list(sweep.points())
    ok = {"status": "ok", "threshold_mA": 0.5, "flags": "[]"}
    store = ResultStore(tmp_path / "s.db")
    with pytest.raises(sqlite3.ProgrammingError):  # sqlite cannot bind an object: the second row fails
        store.add_many(sweep, [(points[0], ok), (points[1], {**ok, "threshold_mA": object()})])
    assert store.done() == set() and not store.db.in_transaction
    store.add_many(sweep, [(p, ok) for p in points[:3]])
    store.close()
    assert set(rows(tmp_path / "s.db")) == {sweep.point_id(p) for p in points[:3]}


def test_results_never_writes_over_an_input_or_another_kind_of_file(tmp_path, capsys):
    # issue 11 #2: `results quick.db --csv quick.db` used to replace the store with CSV.
    db = tmp_path / "s.db"
    fake_store(db, SPEC.format(diameters="[5.7, 10.0]", distances="500.0", widths="0.1"))
    before = db.read_bytes()
    code, _, err = cli(["results", db, "--csv", db], capsys)
    assert code == 2 and db.read_bytes() == before
    one_error_line(err, "argument --csv")
    named_csv = tmp_path / "store.csv"  # a store that happens to end in .csv
    named_csv.write_bytes(before)
    code, _, err = cli(["results", named_csv, "--csv", named_csv], capsys)
    assert code == 2 and named_csv.read_bytes() == before
    one_error_line(err, "argument --csv", "also an input")
    png = tmp_path / "o.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    code, _, err = cli(["results", db, "--csv", png], capsys)
    assert code == 2 and png.read_bytes().startswith(b"\x89PNG")
    one_error_line(err, "argument --csv", "--force")
    assert cli(["results", db, "--csv", png, "--force"], capsys)[0] == 0
    assert png.read_text().startswith("fibre.model,")
    code, _, err = cli(["results", db, "--parquet", tmp_path / "p.csv"], capsys)
    assert code == 2
    one_error_line(err, "argument --parquet", ".parquet")
    fig = tmp_path / "store.png"  # plot --out onto its own store
    fig.write_bytes(before)
    code, _, err = cli(["plot", fig, "--x", "fibre.diameter_um", "--out", fig], capsys)
    assert code == 2 and fig.read_bytes() == before
    one_error_line(err, "argument --out", "also an input")


IDENTITY_SPEC = """
[fibre]
model = "mrg-interp"
diameter_um = {d}
{nodes}
[electrode]
x_um = {x}
sigma_S_m = 0.2
[waveform]
pulse = "biphasic"
width_ms = 0.1
{gap}
[run]
dt_ms = 0.005
{run}
"""


def one_id(**fmt):
    import tomllib

    values = {"d": "5.7", "x": "500.0", "nodes": "", "gap": "", "run": "", **fmt}
    sweep = expand(tomllib.loads(IDENTITY_SPEC.format(**values)))
    (pid,) = sweep.ids()
    return pid


def test_identity_ignores_spelling_but_not_what_changes_the_result(monkeypatch):
    # issue 11 #3: 500 and 500.0, an explicit default and an omitted one are the same point ...
    assert one_id(x="500") == one_id(x="500.0") == one_id(x="[500, 500.0]")
    assert one_id(nodes="n_nodes = 51") == one_id(nodes="n_nodes = 51.0") == one_id()
    assert one_id(gap="gap_ms = 0") == one_id()
    assert one_id(run="fast = false") == one_id() != one_id(run="fast = true")  # ids from before run.fast stay
    # ... other values, and an edited model definition, are not.
    assert one_id(x="501.0") != one_id() and one_id(nodes="n_nodes = 41") != one_id()
    import dataclasses

    import nervesim.model
    original = nervesim.model.load_model("mrg-interp")
    edited = dataclasses.replace(original, source_text=original.source_text.replace("2.0", "2.00001", 1))
    assert edited.source_text != original.source_text
    monkeypatch.setattr(nervesim.model, "load_model", lambda name: edited)
    changed = one_id()
    monkeypatch.undo()
    assert changed != one_id()
    # An edited membrane mechanism (models/mechanisms/axnode.toml) changes every point of its models too.
    from nervesim.membrane import Membrane
    axnode = original.membrane.mechanisms[0]
    mechanism_edited = dataclasses.replace(axnode, source_text=axnode.source_text + "\n# edited")
    monkeypatch.setattr(Membrane, "source_text", property(lambda self: mechanism_edited.source_text))
    changed = one_id()
    monkeypatch.undo()
    assert changed != one_id()


FILE_SPEC = """
[fibre]
model = "mrg-interp"
diameter_um = 10.0
n_nodes = 21
[electrode]
kind = "file"
file = "{file}"
[waveform]
width_ms = 0.1
[run]
dt_ms = 0.005
"""


def write_potentials(path, x_um=1000.0):
    """Potentials of a 0.2 S/m point source x_um from the axis, over a 21-node 10 um fibre."""
    from nervesim import Electrode, FilePotentials, build_fibre

    fibre = build_fibre("mrg-interp", 10.0, 21)
    z = fibre.node_z_um[fibre.centre_node]
    el = Electrode.point(x_um, 0.0, z, 0.2)
    FilePotentials(fibre.z_um, el.potentials(fibre)).to_csv(path)


def test_identity_follows_the_file_content_and_relative_paths_follow_the_spec(tmp_path, monkeypatch, capsys):
    # issue 11 #3 and #4: a potentials file is identified by its content, found relative to the spec.
    project = tmp_path / "project"
    (project / "fields").mkdir(parents=True)
    write_potentials(project / "fields" / "ve.csv")
    spec = project / "spec.toml"
    spec.write_text(FILE_SPEC.format(file="fields/ve.csv"))
    db = tmp_path / "s.db"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the file is not in the working directory: found next to the spec
    sweep = fake_store(db, spec.read_text(), project)
    (point,) = sweep.points()
    assert point["electrode.file"] == str(project / "fields" / "ve.csv")
    code, out, err = cli(["sweep", spec, "--store", db, "--dry-run"], capsys)
    assert code == 0 and "1 points, 1 already" in out, err
    moved = tmp_path / "moved"  # the same content elsewhere is the same point
    project.rename(moved)
    code, out, _ = cli(["sweep", moved / "spec.toml", "--store", db, "--dry-run"], capsys)
    assert code == 0 and "1 already" in out
    write_potentials(moved / "fields" / "ve.csv", x_um=900.0)  # edited content: a new point, rerun
    code, out, _ = cli(["sweep", moved / "spec.toml", "--store", db, "--dry-run"], capsys)
    assert code == 0 and "0 already" in out and "1 to run" in out
    (moved / "fields" / "ve.csv").unlink()  # a missing file is refused up front, never stored as failed
    code, _, err = cli(["sweep", moved / "spec.toml", "--store", tmp_path / "new.db"], capsys)
    assert code == 2 and not (tmp_path / "new.db").exists()
    one_error_line(err, "argument spec: electrode.file", "does not exist")


def test_rows_of_an_older_nervesim_are_rerun_not_reused(tmp_path, capsys):
    # A store written before identities included contents: its ids do not match, the points rerun,
    # and results/plot leave the old rows out.
    db = tmp_path / "old.db"
    spec = write_spec(tmp_path / "o.toml", diameters="[5.7]", distances="[500.0]")
    old_cols = ("point_id", "sweep", "params", "status", "threshold_mA", "finished_at")
    with sqlite3.connect(db) as con:
        con.execute(f"CREATE TABLE results ({', '.join(old_cols)})")
        (p,) = load_spec(spec).points()
        con.execute("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)",
                    ("0123456789abcdef0123", "t", json.dumps(p), "ok", 9.99, "2025"))
    code, out, _ = cli(["sweep", spec, "--store", db, "--dry-run"], capsys)
    assert code == 0 and "1 points, 0 already" in out
    code, out, _ = cli(["results", db], capsys)
    assert code == 0 and "no current points" in out and "1 older rows" in out
    assert len(load_results(db)) == 0 and len(load_results(db, all_rows=True)) == 1


BAD_SPECS = [  # (replace, by, what the one error line must name)
    ("diameter_um = [5.7, 10.0]", 'diameter_um = "5.7"', ["fibre.diameter_um", "not the string '5.7'"]),
    ("n_nodes = 21", "n_nodes = 51.5", ["fibre.n_nodes", "whole number"]),
    ("x_um = [500.0, 1000.0]", "x_um = true", ["electrode.x_um", "boolean"]),
    ("diameter_um = [5.7, 10.0]", "diameter_um = [5.7, 20.0]", ["fibre.diameter_um (axis value 20)", "2.0 to 16.0"]),
    ("width_ms = [0.1]", "width_ms = [0.1, -0.05]", ["waveform.width_ms (axis value -0.05)", "positive"]),
    ("sigma_S_m = 0.2", 'sigma_S_m = 0.2\nkind = "cufff"', ["electrode.kind", "did you mean cuff"]),
    ('name = "t"', 'nmae = "t"', ["sweep.nmae", "did you mean sweep.name"]),
    ("n_nodes = 21", "n_nodes = 21\nnmae = 1", ["fibre.nmae", "unknown key"]),
    ("model = \"mrg-interp\"\ndiameter_um = [5.7, 10.0]",  # a diameter one model has and the other lacks
     'model = ["mrg-interp", "mrg-discrete"]\ndiameter_um = [5.7, 7.0]',
     ["fibre.diameter_um (axis value 7; with fibre.model='mrg-discrete')", "not a row"]),
    ("width_ms = [0.1]", "width_ms = [0.1, 0.0123]", ["run.dt_ms (with waveform.width_ms=0.0123)", "multiple"]),
    ("x_um = [500.0, 1000.0]", "x_um = [500.0, 2.0]", ["electrode.x_um (axis value 2", "inside"]),
    ("width_ms = [0.1]", "width_ms = [0.1]\ngap_ms = 0.05", ["waveform.gap_ms", "not used with waveform.pulse"]),
    ("dt_ms = 0.005", "dt_ms = 0.005\ntolerance = 2", ["run.tolerance"]),
    ("dt_ms = 0.005", "dt_ms = 0.005\nfast = 1", ["run.fast", "true or false"]),
    ("sigma_S_m = 0.2", "sigma_S_m = [0.2, 0.0]", ["electrode.sigma_S_m (axis value 0)"]),
    ("[run]", "[[point]]\n'fibre.diameter_um' = 30.0\n'electrode.x_um' = 300.0\n[run]",
     ["fibre.diameter_um ([[point]] 1)", "outside"]),
    ('name = "t"', "name = 't'\n[point]\n'fibre.diameter_um' = 3.0", ["point: ", "[[point]] (double brackets)"]),
    ("[sweep]", "fibres = 1\n[sweep]", ["fibres: unknown table; did you mean fibre?"]),
]


@pytest.mark.parametrize("old,new,names", BAD_SPECS, ids=[b[1].replace("\n", " ")[:30] for b in BAD_SPECS])
def test_every_point_is_validated_before_anything_runs(tmp_path, capsys, old, new, names):
    # issue 11 #5: these passed --dry-run; the run then stored most points as failed and exited 0.
    text = SPEC.format(diameters="[5.7, 10.0]", distances="[500.0, 1000.0]", widths="[0.1]")
    assert old in text
    spec = tmp_path / "bad.toml"
    spec.write_text(text.replace(old, new, 1))
    for extra in (["--dry-run"], []):
        code, out, err = cli(["sweep", spec, "--store", tmp_path / "s.db", *extra], capsys)
        assert code == 2 and not (tmp_path / "s.db").exists() and not out
        one_error_line(err, "nervesim sweep: error: argument spec: ", *names)


def test_a_huge_grid_is_counted_and_validated_lazily_and_refused_without_allow_large(tmp_path):
    # issue 11 #7: a 10^7-point spec exhausted memory during --dry-run. Memory capped at 1 GB here.
    axis = ", ".join(str(100.0 * (i + 1)) for i in range(10))
    spec = tmp_path / "big.toml"
    spec.write_text(f"""
[fibre]
model = "mrg-interp"
diameter_um = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
n_nodes = 21
[electrode]
x_um = [{axis}]
y_um = [{axis}]
z_um = [{axis}]
sigma_S_m = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
[waveform]
width_ms = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]
[run]
dt_ms = 0.005
tolerance = [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01]
""")
    db = tmp_path / "big.db"
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "

    def run(*extra):
        code = (limit + "import sys; from nervesim.cli import main; "
                f"sys.exit(main(['sweep', {str(spec)!r}, '--store', {str(db)!r}, '--dry-run', *{list(extra)!r}]))")
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    refused = run()
    assert refused.returncode == 2
    one_error_line(refused.stderr, "10,000,000 points", "h on", "--allow-large")
    start = time.perf_counter()
    allowed = run("--allow-large")
    assert allowed.returncode == 0, allowed.stderr
    assert "10000000 points, 0 already" in allowed.stdout and not db.exists()
    assert time.perf_counter() - start < 20  # process start and imports included; validation is < 1 s


STORE_CASES = ["directory", "missing folder", "text file", "other database"]


def bad_store(tmp_path, case):
    if case == "directory":
        return tmp_path
    if case == "missing folder":
        return tmp_path / "nope" / "s.db"
    if case == "text file":
        path = tmp_path / "s.db"
        path.write_text("z_um,ve_mV\n0,1\n")
        return path
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE patients (name)")
    return path


@pytest.mark.parametrize("case", STORE_CASES)
def test_a_store_that_cannot_be_one_is_one_line_and_status_2(tmp_path, capsys, case):
    # issue 11 #6 and #10: tracebacks (or a store created in someone else's database) before.
    store = bad_store(tmp_path, case)
    before = store.read_bytes() if store.is_file() else None
    spec = write_spec(tmp_path / "a.toml")
    code, _, err = cli(["sweep", spec, "--store", store, "--dry-run"], capsys)
    assert code == 2
    one_error_line(err, "argument --store: ")
    if case != "missing folder":  # a new store in an existing folder is fine for sweep, not for reading
        for command in (["results", store], ["plot", store, "--x", "fibre.diameter_um", "--out", tmp_path / "p.png"]):
            code, _, err = cli(command, capsys)
            assert code == 2 and not (tmp_path / "p.png").exists()
            one_error_line(err, f"nervesim {command[0]}: error: argument store: ")
    assert (store.read_bytes() if store.is_file() else None) == before


PLOT_SPEC = """
[fibre]
model = "mrg-interp"
diameter_um = [2.0, 5.7, 12.8, 16.0]
n_nodes = 21
[electrode]
x_um = [500, 1500]
sigma_S_m = 0.2
[waveform]
width_ms = [0.02, 0.05, 0.1, 0.2, 0.5]
[run]
dt_ms = 0.005
"""


def test_plot_labels_title_legend_and_numeric_where(tmp_path, capsys):
    # issue 11 #17: raw keys as labels, no filter in the title, the legend over the data, legend
    # entries in text order, --where x=500 matching nothing (rows hold 500.0) yet an empty figure.
    from nervesim.sweep import plot_store

    db = tmp_path / "p.db"
    fake_store(db, PLOT_SPEC, threshold=lambda p: p["electrode.x_um"] / 500 * (1 + 0.1 / p["waveform.width_ms"])
               / p["fibre.diameter_um"])
    out = tmp_path / "sd.png"
    code, _, err = cli(["plot", db, "--x", "waveform.width_ms", "--group", "fibre.diameter_um",
                        "--where", "electrode.x_um=500", "--out", out], capsys)
    assert code == 0 and out.stat().st_size > 5000, err
    fig = plot_store(db, "waveform.width_ms", out, "fibre.diameter_um", {"electrode.x_um": "500"})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "pulse width (ms)" and ax.get_ylabel() == "threshold (mA)"
    title = ax.get_title(loc="left")
    assert title.startswith("electrode x = 500 µm\n") and "conductivity = 0.2 S/m" in title
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["2 µm", "5.7 µm", "12.8 µm", "16 µm"]
    assert legend.get_title().get_text() == "fibre diameter (µm)"
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    renderer = FigureCanvasAgg(fig).get_renderer()
    assert legend.get_window_extent(renderer).x0 > ax.get_window_extent(renderer).x1  # outside the axes
    lines = ax.get_lines()
    assert len(lines) == 4 and all(len(line.get_xdata()) == 5 for line in lines)
    assert list(lines[0].get_xdata()) == [0.02, 0.05, 0.1, 0.2, 0.5]
    assert lines[0].get_ydata()[2] == pytest.approx(1 * (1 + 1) / 2.0)  # the x = 500 rows only
    code, _, err = cli(["plot", db, "--x", "waveform.width_ms", "--where", "electrode.x_um=700", "--out",
                        tmp_path / "none.png"], capsys)
    assert code == 2 and not (tmp_path / "none.png").exists()
    one_error_line(err, "argument --where", "matches no row", "500, 1500")
    code, _, err = cli(["plot", db, "--x", "waveform.widht_ms", "--out", tmp_path / "none.png"], capsys)
    assert code == 2
    one_error_line(err, "argument --x", "did you mean waveform.width_ms")
    code, _, err = cli(["plot", db, "--x", "waveform.width_ms", "--where", "electrode.x_um=500", "--where",
                        "electrode.x_um=1500", "--out", tmp_path / "none.png"], capsys)
    assert code == 2 and not (tmp_path / "none.png").exists()
    one_error_line(err, "argument --where", "given twice")


def test_every_spec_key_and_public_name_is_documented():
    # issue 11 #20: the module docstring lists every key; public functions and classes have docstrings.
    import inspect

    import nervesim.sweep as sweep

    for key in sweep.KEYS:
        assert f"\n{key} " in sweep.__doc__, key
    for name, obj in vars(sweep).items():
        if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj)) \
                and obj.__module__ == sweep.__name__:
            assert obj.__doc__ and len(obj.__doc__) > 30, name


class ThreadPool(ThreadPoolExecutor):
    """Stands in for the worker-process pool: same calls, threads, no process start-up."""

    submits = 0
    break_at = None  # this submit finds the pool broken (a worker died between two submits)

    def __init__(self, max_workers, mp_context=None, initializer=None):
        super().__init__(max_workers)

    def submit(self, fn, *args):
        type(self).submits += 1
        if type(self).submits == self.break_at:
            raise BrokenProcessPool("a worker died")
        return super().submit(fn, *args)


def fake_point(params, allow_large=False):
    """A point computed at once; diameter 13 um kills its worker (every time)."""
    if params["fibre.diameter_um"] == 13.0:
        raise BrokenProcessPool("a worker died")
    time.sleep(0.01)
    return {"status": "ok", "threshold_mA": params["fibre.diameter_um"], "flags": "[]", "runtime_s": 0.0}


@pytest.mark.parametrize("break_at", [None, 3, 6])
def test_a_worker_death_loses_no_point_and_blames_only_its_cause(tmp_path, monkeypatch, break_at):
    # A dying worker fails every point in flight with it: those are rerun alone, so only the point
    # that kills its worker is stored as failed; a pool found broken at submission loses nothing.
    import nervesim.sweep as sw

    monkeypatch.setattr(sw, "ProcessPoolExecutor", ThreadPool)
    monkeypatch.setattr(sw, "run_point", fake_point)
    monkeypatch.setattr(ThreadPool, "submits", 0)
    monkeypatch.setattr(ThreadPool, "break_at", break_at)
    spec = load_spec(write_spec(tmp_path / "w.toml", diameters="[3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0]",
                                distances="[300.0, 600.0]"))
    summary = run_sweep(spec, tmp_path / "w.db", processes=2, progress=False)
    assert (summary.total, summary.ran, summary.failed) == (14, 14, 2)
    df = load_results(tmp_path / "w.db")
    assert len(df) == 14 and set(df["point_id"]) == set(spec.ids())
    failed = df[df["status"] != "ok"]
    assert set(failed["fibre.diameter_um"]) == {13.0} and failed["error"].str.contains("died 2 times").all()
    ok = df[df["status"] == "ok"]
    assert (ok["threshold_mA"] == ok["fibre.diameter_um"]).all()


def test_allow_large_admits_long_runs_and_reaches_the_workers(tmp_path, capsys, monkeypatch):
    # A run above the per-run limits (dt 2e-6 ms: ~2.5e6 steps) is refused up front unless --allow-large,
    # which the library's message names; with it the flag must reach every run.
    spec = write_spec(tmp_path / "l.toml", diameters="5.7", distances="500.0")
    spec.write_text(spec.read_text().replace("dt_ms = 0.005", "dt_ms = 2e-6"))
    code, _, err = cli(["sweep", spec, "--store", tmp_path / "l.db", "--dry-run"], capsys)
    assert code == 2
    one_error_line(err, "argument spec: run.dt_ms", "--allow-large")
    code, out, err = cli(["sweep", spec, "--store", tmp_path / "l.db", "--dry-run", "--allow-large"], capsys)
    assert code == 0 and "1 points, 0 already" in out and "on 1 cores" in out, err
    import nervesim.sweep as sw

    seen = []
    monkeypatch.setattr(sw, "ProcessPoolExecutor", ThreadPool)
    monkeypatch.setattr(sw, "run_point", lambda params, allow_large=False: seen.append(allow_large) or
                        {"status": "ok", "threshold_mA": 1.0, "flags": "[]"})
    sw.run_sweep(load_spec(spec, allow_large=True), tmp_path / "l.db", processes=2, progress=False,
                 allow_large=True)
    assert seen == [True]
