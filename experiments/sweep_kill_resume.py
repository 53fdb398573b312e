"""Kill a 1000-point sweep with SIGKILL part-way, resume it, and count what the store holds.

Runs `nervesim sweep experiments/sweeps/thousand.toml` into a fresh store in a temporary folder,
SIGKILLs the whole process group once `--kill-after` rows are committed, reruns the same command to
completion, and checks the store holds every point exactly once with a threshold. Then an
uninterrupted run of the same spec into another store gives the reference thresholds: the resumed
store must match it point for point. Writes experiments/results/sweep_kill_resume.json; about two
minutes on 2 cores.
"""
import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
SPEC = HERE / "sweeps" / "thousand.toml"


def rows(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=30) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def sweep(store: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "nervesim.cli", "sweep", str(SPEC), "--store", str(store), "--quiet"]
    return subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def thresholds(store: Path) -> dict[str, tuple[str, float | None]]:
    with sqlite3.connect(store) as db:
        return {pid: (status, thr) for pid, status, thr in
                db.execute("SELECT point_id, status, threshold_mA FROM results")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kill-after", type=int, default=350, help="rows committed before SIGKILL (default 350)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "thousand.db"
        start = time.perf_counter()
        proc = sweep(store)
        while rows(store) < args.kill_after and proc.poll() is None:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = rows(store)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        resumed = sweep(store)
        out, err = resumed.communicate()
        resume_s = time.perf_counter() - start
        if resumed.returncode != 0:
            sys.exit(f"resume failed ({resumed.returncode}): {err.strip()}")
        got = thresholds(store)
        reference_store = Path(tmp) / "reference.db"
        start = time.perf_counter()
        ref_proc = sweep(reference_store)
        ref_proc.communicate()
        reference_s = time.perf_counter() - start
        ref = thresholds(reference_store)
    ok = sum(status == "ok" for status, _ in got.values())
    same = sum(got.get(pid) == value for pid, value in ref.items())
    result = {"spec": str(SPEC.relative_to(HERE.parent)), "killed_after_rows": killed_at,
              "first_run_s": round(first_s, 1), "resume_s": round(resume_s, 1),
              "rows_after_resume": len(got), "ok": ok, "identical_to_uninterrupted_run": same,
              "uninterrupted_run_s": round(reference_s, 1),
              "resume_output": out.strip().replace(str(store), store.name)}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "sweep_kill_resume.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0 if len(got) == len(ref) == same == ok else 1


if __name__ == "__main__":
    sys.exit(main())
