"""The basis of the ``short_fibre`` flag: thresholds of cut fibres against a long fibre.

``python experiments/short_fibre.py`` (MRG, about 3 minutes on 2 cores): mrg-interp 2, 5.7, 10, 16 um; point
source over the centre node 0.25-4 mm away; 5-101 nodes against 151. ``--model sundt`` (about 5 minutes):
sundt 0.5, 1, 2 um; 100-1000 um; 65-1057 sections against 2113. Both: sigma 0.2 S/m, 0.1 ms cathodic pulse,
dt 0.005 ms, 0.01 % tolerance. For each fibre length the script records the threshold error against the long
fibre and `nervesim.threshold.short_fibre_score`, and checks the flag's promise: every case off by more than 1 %
is flagged. Writes experiments/results/short_fibre[_<model>].json.
"""
import argparse
import json
from pathlib import Path

import nervesim
from nervesim.threshold import SHORT_FIBRE_SCORE, search_threshold, short_fibre_score

GRIDS = {  # model: (diameters um, distances um, node counts, reference node count)
    "mrg-interp": ((2.0, 5.7, 10.0, 16.0), (250.0, 500.0, 1000.0, 2000.0, 4000.0),
                   (5, 7, 9, 11, 13, 15, 17, 21, 25, 31, 41, 51, 71, 101), 151),
    "sundt": ((0.5, 1.0, 2.0), (100.0, 250.0, 500.0, 1000.0), (65, 133, 265, 529, 1057), 2113),
}
PULSE = nervesim.Waveform.monophasic(0.1)


def threshold(model: str, diameter_um: float, distance_um: float, n_nodes: int) -> tuple[float, float]:
    """(threshold mA, short-fibre score) of one case."""
    f = nervesim.build_fibre(model, diameter_um, n_nodes)
    stim = nervesim.Stimulation(f, nervesim.Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], 0.2),
                                PULSE, dt_ms=0.005)
    return search_threshold(stim, tolerance=1e-4).threshold_mA, short_fibre_score(f, stim.ve_mV)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=list(GRIDS), default="mrg-interp")
    model = p.parse_args().model
    diameters, distances, nodes, long = GRIDS[model]
    rows = []
    for d in diameters:
        for r in distances:
            ref, _ = threshold(model, d, r, long)
            for n in nodes:
                thr, score = threshold(model, d, r, n)
                rows.append({"diameter_um": d, "distance_um": r, "nodes": n, "threshold_mA": thr,
                             f"error_vs_{long}_nodes": thr / ref - 1, "score": score,
                             "flagged": score > SHORT_FIBRE_SCORE})
                print(json.dumps(rows[-1]), flush=True)
    err = f"error_vs_{long}_nodes"
    missed = [x for x in rows if abs(x[err]) > 0.01 and not x["flagged"]]
    worst_unflagged = max((abs(x[err]) for x in rows if not x["flagged"]), default=0.0)
    summary = {"model": model, "cases": len(rows), "flagged": sum(x["flagged"] for x in rows),
               "off_by_more_than_1pct_but_unflagged": len(missed), "worst_unflagged_error": worst_unflagged,
               "flagged_within_1pct": sum(x["flagged"] and abs(x[err]) <= 0.01 for x in rows)}
    name = "short_fibre.json" if model == "mrg-interp" else f"short_fibre_{model}.json"
    (Path(__file__).parent / "results" / name).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1)
                                                          + "\n")
    print(json.dumps(summary))
    return 0 if not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
