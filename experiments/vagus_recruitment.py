"""Recruitment of a synthetic human cervical vagus by a bipolar LivaNova-like cuff.

Nerve: 2 mm (Pelot et al. 2020), 7 fascicles (human cervical: 7 in Pelot 2020; 6.6 ± 2.8 in
Upadhye et al. 2022) with diameters drawn from 514 ± 142 µm (Upadhye 2022), placed without overlap.
Myelinated fibres: 40 per fascicle, uniform in the fascicle, each with a random node phase. Their
diameters follow a bimodal distribution (bimodal per Havton et al. 2021; the modes and spreads here,
3 ± 0.7 µm (60 %) and 7.5 ± 1.5 µm (40 %), clipped to 2-12 µm, are this experiment's assumption:
the reference gives no numbers). MRG interpolation, 51 nodes, dt 0.005 ms.
Stimulus: LivaNova 2000 cuff, biphasic cathodic-first pulses of 250 and 500 µs per phase, over the
clinical 0.25-3.5 mA range (Labiner & Ahern 2007).
Two volume conductors, side by side:
* homogeneous: anisotropic endoneurium everywhere and the cuff as bare band contacts (`Electrode.cuff`), no
  perineurium, epineurium or insulation;
* finite-element (``--fem``, needs the fem extra): the same nerve and fascicles with the perineurium as a thin
  layer (ASCENT's human rule, HUMAN_VN_INHOUSE_200601: 0.03702 d + 10.5 um), epineurium, the archived LivaNova2000
  helical cuff (silicone, platinum, saline fill, 10 um gap; volume-conductor.md §5.1) and a muscle cylinder of
  radius 8 mm and length 30 mm, grounded outside (8 mm: a 4 mm cylinder raised thresholds 13-22 %, see
  experiments/fem_convergence.py). Fibres are trimmed by whole internodes to the model (ASCENT's rule), centred
  midway between the helices plus their node phase.
Writes results/vagus_recruitment.{png,json}; about a minute, and with ``--fem`` about ten more the first time
(the field: mesh 131 s and both solves 129 s on a 2-core machine; cached by its spec hash afterwards).
"""
import argparse
import json
from pathlib import Path

import numpy as np

import nervesim
from nervesim.analyses import FibrePopulation, activated_fraction, recruitment

NERVE_UM, N_FASC, PER_FASC = 2000.0, 7, 40
WIDTHS_MS = (0.25, 0.5)
CURRENTS_MA = np.round(np.arange(0.0, 3.501, 0.01), 3)


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


def fem_spec(fascicles, length_um: float = 30000.0):
    """The finite-element model of the synthetic nerve (see the module docstring)."""
    from nervesim.field.spec import FieldSpec
    return FieldSpec.from_dict({
        "nerve": {"diameter_um": NERVE_UM},
        "fascicle": [{"x_um": x, "y_um": y, "diameter_um": d} for x, y, d in fascicles],
        "perineurium": {"thickness": "HUMAN_VN_INHOUSE_200601", "resistivity_ohm_m": 1149},
        "medium": {"material": "muscle", "radius_um": 8000, "length_um": length_um},
        "cuff": {"preset": "LivaNova2000", "angle_deg": 0, "z_um": length_um / 2},
        "mesh": {"order": 2, "h_far_um": 1600, "h_nerve_um": 200, "h_contact_um": 50}})


def fem_thresholds(pop: FibrePopulation, field, waveform) -> np.ndarray:
    """Threshold (mA) of every fibre in the field, contact 1 (z = L/2 - 4 mm) the cathode of a cathodic pulse."""
    from nervesim.population import find_thresholds
    out = find_thresholds(field.threshold_jobs("mrg-interp", pop, waveform, [1, -1], dt_ms=0.005))
    return np.array([o.result.threshold_mA if o.result else np.nan for o in out])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fem", action="store_true", help="also the finite-element volume conductor (fem extra)")
    args = ap.parse_args()
    pop, fascicles = synthetic_vagus()
    cuff = nervesim.Electrode.cuff("livanova2000", NERVE_UM, z_um=0.0, medium="endoneurium")
    results = {}
    for width in WIDTHS_MS:
        rec = recruitment("mrg-interp", pop, cuff, nervesim.Waveform.biphasic(width), CURRENTS_MA, dt_ms=0.005)
        results[("homogeneous", width)] = rec.thresholds_mA
    field_info, sources = None, []
    if args.fem:
        from nervesim.field import solve_field
        field = solve_field(fem_spec(fascicles))
        field_info, sources = field.info, field.spec.sources_um()
        for width in WIDTHS_MS:
            results[("fem", width)] = fem_thresholds(pop, field, nervesim.Waveform.biphasic(width))
    fractions = {key: activated_fraction(thr, CURRENTS_MA) for key, thr in results.items()}
    for (medium, width), f in fractions.items():
        thr = results[(medium, width)]
        clinical = [(c, f[np.argmin(abs(CURRENTS_MA - c))]) for c in (0.25, 0.5, 1.0, 1.5, 2.0, 3.5)]
        print(f"{medium} {width * 1e3:.0f} us: " + ", ".join(f"{c:g} mA {100 * x:.0f} %" for c, x in clinical)
              + f"; thresholds {np.nanmin(thr):.3f}-{np.nanmax(thr):.3f} mA"
              + (f"; {int(np.sum(np.isnan(thr)))} fibres without threshold" if np.any(np.isnan(thr)) else ""))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    json.dump({"fascicles_um": fascicles, "diameters_um": pop.diameter_um.tolist(), "x_um": pop.x_um.tolist(),
               "y_um": pop.y_um.tolist(), "currents_mA": CURRENTS_MA.tolist(), "field": field_info,
               **{f"fraction_{m}_{w * 1e3:.0f}us": f.tolist() for (m, w), f in fractions.items()},
               **{f"thresholds_{m}_{w * 1e3:.0f}us_mA": [None if np.isnan(t) else t for t in thr.tolist()]
                  for (m, w), thr in results.items()}},
              open(out / "vagus_recruitment.json", "w"), indent=0)
    plot(pop, fascicles, results, fractions, sources, out / "vagus_recruitment.png")


def plot(pop, fascicles, results, fractions, sources, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fem = any(m == "fem" for m, _ in results)
    fig, ax = plt.subplots(1, 3 if fem else 2, figsize=(16 if fem else 11, 4.3))
    ax[0].axvspan(0.25, 3.5, color="0.92", label="clinical range")
    for (medium, w), f in fractions.items():
        ax[0].plot(CURRENTS_MA, 100 * f, ls="-" if medium == "fem" else "--",
                   label=f"{w * 1e3:.0f} us biphasic, {'finite-element' if medium == 'fem' else 'homogeneous'}")
    ax[0].set(xlabel="current (mA)", ylabel="myelinated fibres activated (%)", xscale="log", xlim=(0.02, 3.5),
              title="synthetic human cervical vagus, LivaNova2000 cuff")
    ax[0].legend(fontsize=7)
    maps = [("homogeneous", "homogeneous medium")] + ([("fem", "finite-element model")] if fem else [])
    vmin = np.log10(np.nanmin([np.nanmin(results[(m, 0.25)]) for m, _ in maps]))
    vmax = np.log10(np.nanmax([np.nanmax(results[(m, 0.25)]) for m, _ in maps]))
    for a, (medium, title) in zip(ax[1:], maps):
        for x, y, d in fascicles:
            a.add_patch(plt.Circle((x, y), d / 2, fill=False, color="0.5"))
        a.add_patch(plt.Circle((0, 0), NERVE_UM / 2, fill=False, color="k"))
        sc = a.scatter(pop.x_um, pop.y_um, c=np.log10(results[(medium, 0.25)]), s=3 * pop.diameter_um,
                       cmap="viridis", vmin=vmin, vmax=vmax)
        a.set(aspect="equal", xlim=(-1100, 1100), ylim=(-1100, 1100), xlabel="x (um)", ylabel="y (um)",
              title=f"thresholds at 250 us, {title}\n(size = diameter" + ("; x: contact sources)" if
                                                                         medium == "fem" else ")"))
        if medium == "fem":
            a.plot([p[0] for p in sources], [p[1] for p in sources], "rx")
    fig.colorbar(sc, ax=list(ax[1:]), label="log10 threshold (mA)")
    fig.savefig(path, dpi=110, bbox_inches="tight")

if __name__ == "__main__":
    main()
