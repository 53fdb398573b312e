"""The basis of the early exit: a search with it decides every amplitude as a search with full-length runs does.

``python experiments/early_exit.py`` (about 10 minutes on 2 cores, most of it compiling the C-fibre kernels): a
threshold search at 0.01 % tolerance, once with the early exit (`nervesim.Stimulation.run_many`'s default) and once
with every run lasting tstop, on 159 cases: mrg-interp 2, 5.7, 10, 16 um, mrg-small 1.5 um and mrg-discrete 8.7 um
(51 nodes) at 0.25, 1 and 3 mm with six pulses (0.1 ms cathodic and anodic, 0.1 ms biphasic with a 0.05 ms gap,
0.5 ms and 0.02 ms cathodic, 0.2 ms anodic-first biphasic), three of them also at dt 0.001 ms; every C-fibre
model (default length) at 0.1 and 0.5 mm with 0.1 ms cathodic, anodic and biphasic pulses. Point source over the
centre node, 0.2 S/m, dt 0.005 ms unless stated. A case passes when both searches ran the same amplitudes with
the same outcomes (so they report the same threshold). Also records the steps each search ran. Writes
experiments/results/early_exit.json; exits 1 if any case differs.
"""
import json
import time
from pathlib import Path

import nervesim
from nervesim.threshold import ThresholdSearchError, search_threshold

PULSES = {"cathodic 0.1 ms": nervesim.Waveform.monophasic(0.1),
          "anodic 0.1 ms": nervesim.Waveform.monophasic(0.1, "anodic"),
          "biphasic 0.1 ms, gap 0.05 ms": nervesim.Waveform.biphasic(0.1, gap_ms=0.05),
          "cathodic 0.5 ms": nervesim.Waveform.monophasic(0.5),
          "cathodic 0.02 ms": nervesim.Waveform.monophasic(0.02),
          "anodic-first biphasic 0.2 ms": nervesim.Waveform.biphasic(0.2, polarity="anodic")}
MRG = (("mrg-interp", 2.0), ("mrg-interp", 5.7), ("mrg-interp", 10.0), ("mrg-interp", 16.0), ("mrg-small", 1.5),
       ("mrg-discrete", 8.7))
C_FIBRES = (("sundt", 1.0), ("sweeney", 1.0), ("rattay", 1.0), ("tigerholm", 0.8), ("schild94", 0.8),
            ("schild97", 0.8), ("thio-autonomic", 1.0), ("thio-cutaneous", 1.0))
CASES = ([(m, d, r, p, 0.005) for m, d in MRG for r in (250.0, 1000.0, 3000.0) for p in PULSES]
         + [("mrg-interp", 10.0, 1000.0, p, 0.001) for p in list(PULSES)[:3]]
         + [(m, d, r, p, 0.005) for m, d in C_FIBRES for r in (100.0, 500.0) for p in list(PULSES)[:3]])


class Steps:
    """Drives a Stimulation for a search, with or without early exit, and counts the steps it runs."""

    def __init__(self, stim: nervesim.Stimulation, early_exit: bool) -> None:
        self.stim, self.early_exit, self.steps = stim, early_exit, 0
        self.fibre, self.ve_mV, self.wave = stim.fibre, stim.ve_mV, stim.wave

    def run_many(self, amplitudes_mA, *, early_exit=True):
        runs = self.stim.run_many(amplitudes_mA, early_exit=self.early_exit)
        self.steps += sum(r.steps_run for r in runs)
        return runs


def search(runner: Steps) -> dict:
    """The search's runs and threshold, or the error that ended it."""
    try:
        res = search_threshold(runner, tolerance=1e-4)
        return {"runs": [list(x) for x in res.runs], "threshold_mA": res.threshold_mA, "steps": runner.steps}
    except ThresholdSearchError as err:
        return {"runs": [list(x) for x in err.runs], "error": str(err), "steps": runner.steps}


def main() -> int:
    rows = []
    for model, diameter_um, distance_um, pulse, dt_ms in CASES:
        t0 = time.perf_counter()
        f = nervesim.build_fibre(model, diameter_um, 51 if model.startswith("mrg") else None)
        electrode = nervesim.Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], 0.2)
        stim = nervesim.Stimulation(f, electrode, PULSES[pulse], dt_ms=dt_ms)
        early, full = search(Steps(stim, True)), search(Steps(stim, False))
        rows.append({"model": model, "diameter_um": diameter_um, "distance_um": distance_um, "pulse": pulse,
                     "dt_ms": dt_ms, "same": early["runs"] == full["runs"],
                     "threshold_mA": early.get("threshold_mA"), "n_runs": len(early["runs"]),
                     "steps_early_exit": early["steps"], "steps_full_length": full["steps"]})
        print(json.dumps(rows[-1]), f"({time.perf_counter() - t0:.1f} s)", flush=True)
    summary = {"cases": len(rows), "different": sum(not x["same"] for x in rows),
               "steps_early_exit_over_full_length": sum(x["steps_early_exit"] for x in rows)
               / sum(x["steps_full_length"] for x in rows)}
    (Path(__file__).parent / "results" / "early_exit.json").write_text(
        json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    print(json.dumps(summary))
    return 0 if summary["different"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
