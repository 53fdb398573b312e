"""Strength-duration curves at 1 mm for 5.7, 10 and 16 um MRG fibres, with rheobase and chronaxie.

Cathodic monophasic point source 1 mm over the centre node, σ = 0.2 S/m, 51 nodes, dt 0.001 ms
(widths down to 10 µs). Chronaxie is compared with the 30-200 µs range of large myelinated axons
(Ranck 1975, Brain Res 98:417). Writes results/strength_duration.{png,json}; about a minute.
"""
import json
from pathlib import Path

import numpy as np

import nervesim
from nervesim.analyses import strength_duration

WIDTHS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]


def main():
    res = Path(__file__).parent / "results"
    res.mkdir(exist_ok=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4))
    out = {}
    for d in (5.7, 10.0, 16.0):
        f = nervesim.build_fibre("mrg-interp", d, 51)
        el = nervesim.Electrode.point(1000.0, 0.0, f.node_z_um[f.centre_node], 0.2)
        sd = strength_duration("mrg-interp", d, el, WIDTHS)
        out[d] = {"thresholds_mA": sd.thresholds_mA.tolist(),
                  **{fit.form: {"rheobase_mA": fit.rheobase_mA, "chronaxie_ms": fit.chronaxie_ms,
                                "rms_rel_error": fit.rms_rel_error} for fit in (sd.weiss, sd.lapicque)}}
        print(f"{d:4g} um: rheobase {sd.rheobase_mA * 1e3:.1f} uA, chronaxie {sd.chronaxie_ms * 1e3:.0f} us "
              f"({sd.best.form}, rms error {100 * sd.best.rms_rel_error:.1f} %); "
              f"Weiss {sd.weiss.chronaxie_ms * 1e3:.0f} "
              f"us, Lapicque {sd.lapicque.chronaxie_ms * 1e3:.0f} us")
        line, = ax.loglog(sd.widths_ms, sd.thresholds_mA, "o", label=f"{d:g} um")
        w = np.geomspace(WIDTHS[0], WIDTHS[-1], 100)
        ax.loglog(w, sd.best.predict(w), "-", color=line.get_color(), lw=1)
    ax.set(xlabel="pulse width (ms)", ylabel="threshold (mA)")
    ax.set_title("strength-duration, cathodic monophasic point source\n"
                 f"1 mm over the centre node in {el.medium.description}; 51 nodes, dt 0.001 ms", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(res / "strength_duration.png", dpi=110)
    json.dump({"inputs": {"model": "mrg-interp", "nodes": 51, "dt_ms": 0.001, "tolerance": 1e-3,
                          "electrode": "point source 1000 um over the centre node", "medium": el.medium.description,
                          "pulse": "monophasic cathodic", "nervesim_version": nervesim.__version__},
               "widths_ms": WIDTHS, "fibres": {str(k): v for k, v in out.items()}},
              open(res / "strength_duration.json", "w"), indent=1)


if __name__ == "__main__":
    main()
