"""Sweeps: spec expansion, the SQLite store, resume after kills, Dask, export and plots."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

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
    assert len(expand(spec).points) == 6
    spec["electrode"].pop("sigma_S_m")
    spec["electrode"]["sigma_xyz"] = [[0.1, 0.1, 0.5], [0.2, 0.2, 0.2]]
    assert len(expand(spec).points) == 12
    spec["electrode"]["sigma_xyz"] = [0.1, 0.1, 0.5]  # one triple is a fixed value, not an axis
    assert len(expand(spec).points) == 6
    spec["point"] = [{"fibre.diameter_um": 12.0, "electrode.x_um": 300.0}]
    sweep = expand(spec)
    assert len(sweep.points) == 7 and len(set(sweep.ids)) == 7
    with pytest.raises(SpecError, match="fibre.diamter_um"):
        expand({**spec, "fibre": {"diamter_um": 3.0}})
    with pytest.raises(SpecError, match="waveform.width_ms"):
        expand({"fibre": {"model": "mrg-interp", "diameter_um": 3.0}})


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
    db = tmp_path / "f.db"
    summary = run_sweep(load_spec(write_spec(tmp_path / "f.toml", diameters="[10.0, 20.0]", distances="[1000.0]")),
                        db, processes=1, progress=False)
    assert (summary.ran, summary.failed) == (2, 1)
    df = load_results(db)
    bad = df[df["fibre.diameter_um"] == 20.0].iloc[0]
    assert bad["status"] == "error" and "2.0 to 16.0" in bad["error"]
    assert df[df["fibre.diameter_um"] == 10.0].iloc[0]["threshold_mA"] > 0


def start_sweep(spec, db):
    return subprocess.Popen([sys.executable, "-m", "nervesim.cli", "sweep", str(spec), "--store", str(db), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


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
    assert len(final) == 48 and set(final) == set(load_spec(spec).ids)
    assert all(final[k] == v for k, v in kept.items())  # nothing redone, nothing lost
    assert f"{len(kept)} were stored" in out.decode()


def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is part of .[test]")
    spec = load_spec(write_spec(tmp_path / "d.toml"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        summary = run_sweep(spec, tmp_path / "d.db", client=client, progress=False)
    assert (summary.ran, summary.failed) == (4, 0)
    run_sweep(spec, tmp_path / "l.db", processes=2, progress=False)
    dask_rows, local_rows = rows(tmp_path / "d.db"), rows(tmp_path / "l.db")
    assert {k: v[0] for k, v in dask_rows.items()} == {k: v[0] for k, v in local_rows.items()}


def test_cli_dry_run_export_and_plot(tmp_path, capsys):
    from nervesim.cli import main

    spec = write_spec(tmp_path / "c.toml")
    db = tmp_path / "c.db"
    assert main(["sweep", str(spec), "--store", str(db), "--dry-run"]) == 0
    assert "4 points, 0 already" in capsys.readouterr().out and not rows(db)
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
    assert set(final) == set(load_spec(spec).ids) and len(final) == 48
    assert all(v[2] == "ok" for v in final.values())  # the points in flight were retried, not lost
