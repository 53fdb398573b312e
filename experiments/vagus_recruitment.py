"""Recruitment of a synthetic human cervical vagus by a bipolar LivaNova-like cuff.

Nerve: 2 mm (Pelot et al. 2020), 7 fascicles (human cervical: 7 in Pelot 2020; 6.6 ± 2.8 in
Upadhye et al. 2022) with diameters drawn from 514 ± 142 µm (Upadhye 2022), placed without overlap.
Myelinated fibres: 40 per fascicle, uniform in the fascicle, each with a random node phase. Their
diameters follow a bimodal distribution (bimodal per Havton et al. 2021; the modes and spreads here,
3 ± 0.7 µm (60 %) and 7.5 ± 1.5 µm (40 %), clipped to 2-12 µm, are this experiment's assumption:
the reference gives no numbers). MRG interpolation, 51 nodes, dt 0.005 ms.
Stimulus: LivaNova 2000 cuff, biphasic cathodic-first pulses of 250 and 500 µs per phase, over the
clinical 0.25-3.5 mA range (Labiner & Ahern 2007).
The medium is homogeneous anisotropic endoneurium: no perineurium, epineurium or cuff insulation,
which in finite-element models raise thresholds substantially, so this is an upper bound on
recruitment at a given current. Writes results/vagus_recruitment.{png,json}; about a minute.
"""
import json
from pathlib import Path

import numpy as np

import nervesim
from nervesim.analyses import FibrePopulation, recruitment

NERVE_UM, N_FASC, PER_FASC = 2000.0, 7, 40


def synthetic_vagus(seed=0) -> tuple[FibrePopulation, list[tuple[float, float, float]]]:
    rng = np.random.default_rng(seed)
    fascicles = []
    while len(fascicles) < N_FASC:
        d = float(np.clip(rng.normal(514.0, 142.0), 250.0, 800.0))
        r = NERVE_UM / 2 - d / 2 - 30.0
        x, y = rng.uniform(-r, r, 2)
        if np.hypot(x, y) <= r and all(np.hypot(x - a, y - b) > (d + e) / 2 + 20.0 for a, b, e in fascicles):
            fascicles.append((float(x), float(y), d))
    xs, ys = [], []
    for x, y, d in fascicles:
        rr = (d / 2 - 10.0) * np.sqrt(rng.uniform(0, 1, PER_FASC))
        phi = rng.uniform(0, 2 * np.pi, PER_FASC)
        xs.append(x + rr * np.cos(phi))
        ys.append(y + rr * np.sin(phi))
    n = N_FASC * PER_FASC
    small = rng.uniform(0, 1, n) < 0.6
    diam = np.where(small, rng.normal(3.0, 0.7, n), rng.normal(7.5, 1.5, n)).clip(2.0, 12.0)
    return FibrePopulation(np.concatenate(xs), np.concatenate(ys), diam, rng.uniform(0, 1, n)), fascicles


def main():
    pop, fascicles = synthetic_vagus()
    cuff = nervesim.Electrode.cuff("livanova2000", NERVE_UM, z_um=0.0, medium="endoneurium")
    currents = np.round(np.arange(0.0, 3.501, 0.01), 3)
    results = {}
    for width in (0.25, 0.5):
        rec = recruitment("mrg-interp", pop, cuff, nervesim.Waveform.biphasic(width), currents, dt_ms=0.005)
        results[width] = rec
        f = rec.fraction
        clinical = [(c, f[np.argmin(abs(currents - c))]) for c in (0.25, 0.5, 1.0, 1.5, 2.0, 3.5)]
        print(f"{width * 1e3:.0f} us: " + ", ".join(f"{c:g} mA {100 * x:.0f} %" for c, x in clinical)
              + f"; thresholds {np.nanmin(rec.thresholds_mA):.3f}-{np.nanmax(rec.thresholds_mA):.3f} mA"
              + (f"; {len(rec.errors)} fibres without threshold" if rec.errors else ""))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    json.dump({"fascicles_um": fascicles, "diameters_um": pop.diameter_um.tolist(), "x_um": pop.x_um.tolist(),
               "y_um": pop.y_um.tolist(), "currents_mA": currents.tolist(),
               **{f"fraction_{w * 1e3:.0f}us": r.fraction.tolist() for w, r in results.items()},
               **{f"thresholds_{w * 1e3:.0f}us_mA": r.thresholds_mA.tolist() for w, r in results.items()}},
              open(out / "vagus_recruitment.json", "w"))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.3))
    ax[0].axvspan(0.25, 3.5, color="0.92", label="clinical range")
    for w, r in results.items():
        ax[0].plot(currents, 100 * r.fraction, label=f"{w * 1e3:.0f} us biphasic")
    ax[0].set(xlabel="current (mA)", ylabel="myelinated fibres activated (%)", xscale="log", xlim=(0.02, 3.5),
              title="synthetic human cervical vagus, LivaNova-like cuff")
    ax[0].legend(fontsize=8)
    for x, y, d in fascicles:
        ax[1].add_patch(plt.Circle((x, y), d / 2, fill=False, color="0.5"))
    ax[1].add_patch(plt.Circle((0, 0), NERVE_UM / 2, fill=False, color="k"))
    sc = ax[1].scatter(pop.x_um, pop.y_um, c=np.log10(results[0.25].thresholds_mA), s=3 * pop.diameter_um,
                       cmap="viridis")
    fig.colorbar(sc, ax=ax[1], label="log10 threshold at 250 us (mA)")
    ax[1].set(aspect="equal", xlim=(-1100, 1100), ylim=(-1100, 1100), xlabel="x (um)", ylabel="y (um)",
              title="fascicles and fibres (size = diameter)")
    fig.tight_layout()
    fig.savefig(out / "vagus_recruitment.png", dpi=110)


if __name__ == "__main__":
    main()
