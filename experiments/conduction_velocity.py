"""Conduction velocity vs fibre diameter for the three MRG variants.

Protocol of the PyFibers MRG replication (reference §6.2): 21-node fibres, a 0.1 ms intracellular
pulse (2 nA, as the ModelDB demo) at node 1, CV from the −30 mV crossing times at nodes
int(0.25·20) = 5 and int(0.75·20) = 15; dt 0.005 ms, 37 °C. The MRG paper's own CV values were not
available to this project (reference §9 item 1), so the comparison is (a) the same protocol in
NEURON for a subset of diameters, and (b) the classic ≈6 m/s per µm of fibre diameter of large
myelinated fibres (Hursh 1939) as an order-of-magnitude check.
Writes results/conduction_velocity.{png,json}; about 20 s.
"""
import json
from pathlib import Path

import numpy as np

import nervesim
from nervesim.validate import conduction_velocity

DIAMETERS = {"mrg-interp": np.arange(2.0, 16.1, 1.0),
             "mrg-discrete": [2.0, 5.7, 7.3, 8.7, 10.0, 11.5, 12.8, 14.0, 15.0, 16.0],
             "mrg-small": [1.5, 2.0, 3.0, 4.0, 5.0, 5.7]}
NEURON_CHECK = {"mrg-interp": [2.0, 10.0, 16.0], "mrg-small": [2.0]}


def cv(model, d, engine):
    f = nervesim.build_fibre(model, float(d), 21)
    pulse = nervesim.IntracellularPulse(node=1, amplitude_nA=2.0, delay_ms=0.0, duration_ms=0.1)
    return conduction_velocity(engine(f, None, None, dt_ms=0.005, tstop_ms=5.0, intracellular=pulse).run(0.0), f)


def main():
    import warnings
    warnings.simplefilter("ignore")  # mrg-small above 5.7 um is not used here; keep the output clean
    out = {m: {float(d): cv(m, d, nervesim.Stimulation) for d in ds} for m, ds in DIAMETERS.items()}
    check = {}
    try:
        from nervesim.neuron import NeuronStimulation
        for m, ds in NEURON_CHECK.items():
            for d in ds:
                ref = cv(m, d, NeuronStimulation)
                check[f"{m} {d:g}"] = (out[m][d], ref, abs(out[m][d] - ref) / ref)
    except ImportError:
        pass
    for m, vals in out.items():
        d, v = np.array(list(vals)), np.array(list(vals.values()))
        slope = np.polyfit(d, v, 1)
        print(f"{m:13} CV {v.min():.1f}-{v.max():.1f} m/s over {d.min():g}-{d.max():g} um; "
              f"linear fit CV = {slope[0]:.2f}*D {slope[1]:+.1f} m/s; CV/D at the largest: {v[-1] / d[-1]:.2f} m/s/um")
    for k, (a, b, rel) in check.items():
        print(f"NEURON check {k} um: nervesim {a:.4f} m/s, NEURON {b:.4f} m/s (rel diff {rel:.1e})")
    res = Path(__file__).parent / "results"
    res.mkdir(exist_ok=True)
    json.dump({"cv_m_s": {m: {str(k): v for k, v in vals.items()} for m, vals in out.items()},
               "neuron_check": check}, open(res / "conduction_velocity.json", "w"), indent=1)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for m, vals in out.items():
        ax.plot(list(vals), list(vals.values()), "o-", ms=4, label=m)
    d = np.linspace(1.5, 16, 10)
    ax.plot(d, 6 * d, "k:", lw=1, label="6 m/s per um (Hursh 1939)")
    ax.set(xlabel="fibre diameter (um)", ylabel="conduction velocity (m/s)", title="MRG conduction velocity")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(res / "conduction_velocity.png", dpi=110)


if __name__ == "__main__":
    main()
