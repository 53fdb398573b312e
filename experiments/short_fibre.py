"""The basis of the ``short_fibre`` flag: thresholds of cut fibres against a 151-node fibre.

mrg-interp 2, 5.7, 10, 16 um; point source over the centre node 0.25-4 mm away in sigma 0.2 S/m; 0.1 ms
cathodic pulse; dt 0.005 ms; 0.01 % tolerance. For each fibre length the script records the threshold
error against 151 nodes and `nervesim.threshold.short_fibre_score`, and checks the flag's promise: every
case off by more than 1 % is flagged. Writes experiments/results/short_fibre.json; about 3 minutes on 2 cores.
"""
import json
from pathlib import Path

import nervesim
from nervesim.threshold import SHORT_FIBRE_SCORE, search_threshold, short_fibre_score

DIAMETERS_UM = (2.0, 5.7, 10.0, 16.0)
DISTANCES_UM = (250.0, 500.0, 1000.0, 2000.0, 4000.0)
NODES = (5, 7, 9, 11, 13, 15, 17, 21, 25, 31, 41, 51, 71, 101)
PULSE = nervesim.Waveform.monophasic(0.1)


def threshold(diameter_um: float, distance_um: float, n_nodes: int) -> tuple[float, float]:
    """(threshold mA, short-fibre score) of one case."""
    f = nervesim.build_fibre("mrg-interp", diameter_um, n_nodes)
    stim = nervesim.Stimulation(f, nervesim.Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], 0.2),
                                PULSE, dt_ms=0.005)
    return search_threshold(stim, tolerance=1e-4).threshold_mA, short_fibre_score(f, stim.ve_mV)


def main() -> int:
    rows = []
    for d in DIAMETERS_UM:
        for r in DISTANCES_UM:
            ref, _ = threshold(d, r, 151)
            for n in NODES:
                thr, score = threshold(d, r, n)
                rows.append({"diameter_um": d, "distance_um": r, "nodes": n, "threshold_mA": thr,
                             "error_vs_151_nodes": thr / ref - 1, "score": score, "flagged": score > SHORT_FIBRE_SCORE})
                print(json.dumps(rows[-1]), flush=True)
    missed = [x for x in rows if abs(x["error_vs_151_nodes"]) > 0.01 and not x["flagged"]]
    worst_unflagged = max((abs(x["error_vs_151_nodes"]) for x in rows if not x["flagged"]), default=0.0)
    summary = {"cases": len(rows), "flagged": sum(x["flagged"] for x in rows),
               "off_by_more_than_1pct_but_unflagged": len(missed), "worst_unflagged_error": worst_unflagged}
    out = Path(__file__).parent / "results" / "short_fibre.json"
    out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    print(json.dumps(summary))
    return 0 if not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
