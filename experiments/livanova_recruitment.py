"""Recruitment of 2-10 um myelinated fibres in a 2 mm nerve by a bipolar LivaNova-like cuff.

0.25 ms biphasic (cathodic-first) pulses, 200 fibres placed uniformly in the nerve with random node
phases, homogeneous anisotropic endoneurium (no perineurium, epineurium or cuff insulation: an
analytic model; `vagus_recruitment.py --fem` shows what the tissue and the cuff change). The curve's
currents run from below the lowest to above the highest fibre threshold; the 10/50/90 % currents
are exact from the per-fibre thresholds. Writes experiments/results/livanova_recruitment.{png,json}.
The same in one call:
  nervesim recruitment --model mrg-interp --cuff livanova2000 --nerve-diameter-um 2000 --fibres 200 \
      --diameters-um 2,10 --pulse biphasic --width-ms 0.25 --dt-ms 0.005 --plot recruitment.png
"""
import json
import math
from pathlib import Path

import numpy as np

import nervesim
from nervesim.analyses import FibrePopulation, plot_recruitment, recruitment

out = Path(__file__).parent / "results"
out.mkdir(exist_ok=True)
fibres = FibrePopulation.uniform(200, nerve_diameter_um=2000.0, diameters_um=(2.0, 10.0), seed=0)
cuff = nervesim.Electrode.cuff("livanova2000", nerve_diameter_um=2000.0, z_um=0.0, medium="endoneurium")
pulse = nervesim.Waveform.biphasic(0.25, "cathodic")
rec = recruitment("mrg-interp", fibres, cuff, pulse, dt_ms=0.005)
plot_recruitment(rec, out / "livanova_recruitment.png",
                 f"200 fibres (2-10 um), {cuff.description}; {pulse.label}")
ordered = np.sort(rec.thresholds_mA)  # NaN (no threshold) last
levels = {}
for level in (0.1, 0.5, 0.9):
    levels[level] = float(ordered[math.ceil(level * len(ordered)) - 1])  # the k-th fibre's threshold
    print(f"{100 * level:.0f} % of fibres at {levels[level]:.3f} mA")
json.dump({"inputs": {"model": "mrg-interp", "fibres": 200, "diameter_range_um": [2.0, 10.0], "seed": 0,
                      "nerve_diameter_um": 2000.0, "electrode": cuff.description, "waveform": pulse.label,
                      "dt_ms": 0.005, "tolerance": 1e-3, "nodes": 51, "nervesim_version": nervesim.__version__},
           "currents_mA": rec.currents_mA.tolist(), "fraction": rec.fraction.tolist(),
           "level_currents_mA": {f"{100 * k:.0f} %": v for k, v in levels.items()},
           "thresholds_mA": rec.thresholds_mA.tolist(), "diameters_um": fibres.diameter_um.tolist()},
          open(out / "livanova_recruitment.json", "w"))
