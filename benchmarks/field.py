"""Speed of a solved finite-element field: ``python -m benchmarks.field [--spec SPEC.toml]``.

On the Yoo 2013 model (``experiments/yoo2013/spec.toml``: the LivaNova2000 helix, 1.07 M elements; solved and
cached first if it is not, about 5 minutes):

- a fresh ``nervesim threshold --field`` process with the cached field (MRG interpolation 7.8 µm at the fascicle
  centroid, contact 1 cathode, 0.3 ms; the fibre fitted to the model), wall time of each of 3 processes;
- loading the field file and building its point locator, in this process;
- sampling 1000 fibres: MRG interpolation, diameters uniform in 2-16 µm, uniform over the fascicle, each fitted to
  the model's length as ASCENT does (29-121 nodes, 11 sections per internode), potentials at every section
  centre; the fibres are built outside the timing;
- a population of 10,000 such fibres (random node phases, each one internode shorter at each end:
  `Field.threshold_jobs`) at two pulse widths, 0.1 and 0.3 ms monophasic cathodic, thresholds at 0.1 % with
  `find_thresholds` (warm starts, both cores) at the population benchmark's dt: wall time of the whole, fibres
  and potentials included.

Issue 9's targets: sampling 1000 fibres <= 5 s, ``nervesim threshold --field`` with a cached field < 2 s; issue
12's: 10,000 fibres from one field with two pulse widths <= 5 min. Writes results/field_table.txt and
results/field.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nervesim
from benchmarks.__main__ import DT_MS, cli_command, machine, publish
from nervesim.analyses import FibrePopulation
from nervesim.population import find_thresholds

WIDTHS = (nervesim.Waveform.monophasic(0.1, "cathodic"), nervesim.Waveform.monophasic(0.3, "cathodic"))
ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.field", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "experiments" / "yoo2013" / "spec.toml"))
    parser.add_argument("--fibres", type=int, default=1000)
    parser.add_argument("--population", type=int, default=10_000)
    args = parser.parse_args(argv)

    from nervesim.field import Field, field_cache_dir, fitting_fibre, load_spec, solve_field

    load_before = os.getloadavg()[0]
    spec = load_spec(args.spec)
    path = field_cache_dir() / f"{spec.hash()}.npz"
    cached = path.is_file()
    solve_field(spec)
    t = time.perf_counter()
    field = Field.load(path)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    field.mesh._locator()
    t_locator = time.perf_counter() - t

    x0, y0 = spec.fascicles[0].centroid_um
    cli = cli_command() + ["threshold", "--field", str(path), "--x-um", f"{x0}", "--y-um",
           f"{y0}", "--weights", ",".join(["1"] + ["0"] * (field.n_contacts - 1)), "--model", "mrg-interp",
           "--diameter-um", "7.8", "--pulse", "mono", "--width-ms", "0.3"]
    cli_s = []
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run(cli, capture_output=True, text=True, check=True).stdout
        cli_s.append(time.perf_counter() - t)
    threshold_line = next(line for line in out.splitlines() if line.startswith("threshold"))

    x, y, d, _ = field.fibre_places((2.0, 16.0), per_fascicle=args.fibres, seed=1)
    fibres = [fitting_fibre("mrg-interp", float(di), spec.medium_length_um) for di in d]
    weights = [1.0] + [0.0] * (field.n_contacts - 1)
    t = time.perf_counter()
    for f, xi, yi in zip(fibres, x, y):
        field.potentials(f, xi, yi, weights)
    t_sample = time.perf_counter() - t
    sections = sum(f.n_sections for f in fibres)

    x, y, d, phase = field.fibre_places((2.0, 16.0), per_fascicle=args.population, seed=2)
    t = time.perf_counter()
    jobs = field.threshold_jobs("mrg-interp", FibrePopulation(x, y, d, phase), WIDTHS[0], weights, dt_ms=DT_MS)
    t_jobs = time.perf_counter() - t
    failed = 0
    for width in WIDTHS:
        out = find_thresholds([dataclasses.replace(j, waveform=width) for j in jobs])
        failed += sum(o.result is None for o in out)
    t_population = time.perf_counter() - t

    result = {"machine": machine(), "load_avg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
              "spec": str(Path(args.spec).resolve().relative_to(ROOT)),
              "solved_now": not cached, "elements": field.info["elements"], "unknowns": field.info["unknowns"],
              "file_MB": round(path.stat().st_size / 1e6, 1), "load_s": round(t_load, 3),
              "locator_s": round(t_locator, 3), "cli_threshold_s": [round(s, 2) for s in cli_s],
              "cli_output": threshold_line.strip(), "fibres": args.fibres, "sections": sections,
              "sample_s": round(t_sample, 3), "us_per_section": round(1e6 * t_sample / sections, 3),
              "population": args.population, "population_dt_ms": DT_MS, "population_jobs_s": round(t_jobs, 1),
              "population_s": round(t_population, 1), "population_failed": failed}
    lines = [f"machine: {result['machine']}; load average (1 min) before / after: "
             f"{result['load_avg_before_after'][0]} / {result['load_avg_before_after'][1]}",
             f"field: {result['spec']} ({result['elements']} elements, {result['unknowns']} unknowns, file "
             f"{result['file_MB']} MB)",
             "",
             "| measurement | value | target |",
             "|---|---|---|",
             f"| nervesim threshold --field, fresh process (3 runs) | "
             f"{', '.join(f'{s:.2f}' for s in cli_s)} s (median {statistics.median(cli_s):.2f} s) | < 2 s |",
             f"| load the field file / build its locator | {t_load:.2f} s / {t_locator:.2f} s | |",
             f"| sample {args.fibres} ASCENT-length MRG fibres, 2-16 um ({sections} sections) | {t_sample:.2f} s "
             f"({result['us_per_section']:.2f} us per section) | <= 5 s |",
             f"| {args.population} fitted MRG fibres, 2-16 um, random node phases, 0.1 and 0.3 ms, 0.1 %, dt {DT_MS} "
             f"ms (fibres and potentials: {t_jobs:.1f} s) | {t_population:.1f} s ({failed} without threshold) | "
             "<= 300 s (issue 12) |",
             "",
             f"threshold process printed: {result['cli_output']}"]
    publish(lines, result, "field_table.txt", "field.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
