"""Recruitment of 2-10 um myelinated fibres in a 2 mm nerve by a bipolar LivaNova-like cuff.

0.25 ms biphasic (cathodic-first) pulses, 200 fibres placed uniformly in the nerve with random node
phases, homogeneous anisotropic endoneurium (no perineurium, epineurium or cuff insulation: an
analytic model, so absolute currents are lower than a finite-element cuff would give).
Writes experiments/results/livanova_recruitment.{png,json}. About a minute on 2 cores.
The same in one call:
  nervesim recruitment --model mrg-interp --cuff livanova2000 --nerve-diameter-um 2000 --fibres 200 \
      --diameters-um 2,10 --pulse biphasic --width-ms 0.25 --dt-ms 0.005 --plot recruitment.png
"""
import json
from pathlib import Path

import numpy as np

import nervesim
from nervesim.analyses import FibrePopulation, plot_recruitment, recruitment

out = Path(__file__).parent / "results"
out.mkdir(exist_ok=True)
fibres = FibrePopulation.uniform(200, nerve_diameter_um=2000.0, diameters_um=(2.0, 10.0), seed=0)
cuff = nervesim.Electrode.cuff("livanova2000", nerve_diameter_um=2000.0, z_um=0.0, medium="endoneurium")
pulse = nervesim.Waveform.biphasic(0.25, "cathodic")
rec = recruitment("mrg-interp", fibres, cuff, pulse, np.arange(0.05, 3.51, 0.05), dt_ms=0.005)
plot_recruitment(rec, out / "livanova_recruitment.png", "LivaNova-like bipolar cuff, 2 mm nerve, 0.25 ms biphasic")
for level in (0.1, 0.5, 0.9):
    print(f"{100 * level:.0f} % of fibres at {rec.currents_mA[np.argmax(rec.fraction >= level)]:.2f} mA")
json.dump({"currents_mA": rec.currents_mA.tolist(), "fraction": rec.fraction.tolist(),
           "thresholds_mA": rec.thresholds_mA.tolist(), "diameters_um": fibres.diameter_um.tolist()},
          open(out / "livanova_recruitment.json", "w"))
