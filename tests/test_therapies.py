"""The therapy study's model (experiments/therapies): its nerves and fibre types against the published statistics
it cites, and its summary arithmetic on thresholds whose answer is known."""
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from nervesim.analyses import activated_fraction
from nervesim.model import load_model

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments" / "therapies"))
import report  # noqa: E402
import run  # noqa: E402


@pytest.fixture(scope="module")
def study():
    return run.load_study()


def test_random_nerves_follow_the_published_fascicle_statistics(study):
    nerve = study["nerve"]
    diameters = []
    for seed in range(150):
        fascicles = run.random_nerve(nerve, seed)
        assert len(fascicles) == 7  # Pelot 2020
        for i, (x, y, d) in enumerate(fascicles):
            assert math.hypot(x, y) + d / 2 <= nerve["diameter_um"] / 2 - nerve["edge_gap_um"] + 1e-9
            assert 147.0 <= d <= 1360.0  # Upadhye 2022's range
            for a, b, e in fascicles[:i]:
                assert math.hypot(x - a, y - b) >= (d + e) / 2 + nerve["fascicle_gap_um"] - 1e-9
        diameters += [d for _, _, d in fascicles]
    d = np.array(diameters)
    # Upadhye 2022: 514 +- 142 um; 1050 draws put the mean within 4 standard errors (17 um) if nothing biases it.
    assert abs(d.mean() - 514.0) < 4 * 142.0 / math.sqrt(d.size)
    assert abs(d.std() - 142.0) < 0.1 * 142.0
    assert run.random_nerve(nerve, 3) == run.random_nerve(nerve, 3)  # seeded


def test_fibre_types_match_the_cited_composition_and_their_models(study):
    share = {f["type"]: f["share"] for f in study["fibre"]}
    assert sum(share.values()) == pytest.approx(1.0, abs=1e-9)
    assert share["C"] == pytest.approx(2 / 3, abs=0.005)  # Brain Stimul 2024: ~2/3 unmyelinated
    for ftype in study["fibre"]:
        model = load_model(ftype["model"])
        assert model.min_um <= ftype["diameter"]["min"] < ftype["diameter"]["max"] <= model.max_um, ftype["type"]


def test_fractions_and_window_currents():
    thr = np.array([0.4, 2.0, np.nan, 1.0, 3.0])  # NaN: silent up to max_mA
    assert list(activated_fraction(thr, [1.0, 0.39])) == [0.4, 0.0]
    assert report.current_for(thr, 0.5) == 2.0  # 3 of 5 fire at 2 mA, 2 of 5 at 1 mA
    assert report.current_for(thr, 0.2) == 0.4
    assert report.current_for(thr, 0.8) == 3.0
    assert math.isnan(report.current_for(thr, 0.9))  # the fifth never fires below max_mA


def test_the_study_refuses_a_bad_nerve_count(capsys):
    with pytest.raises(SystemExit) as exc:
        run.main(["--nerves", "0"])
    assert exc.value.code == 2
    assert "--nerves 0" in capsys.readouterr().err


def test_readme_quotes_the_study_summary():
    """The README's therapy numbers are those of experiments/therapies/results/summary.json (rerun the study and
    update the README together)."""
    import json

    root = Path(__file__).parents[1]
    summary = json.loads((root / "experiments" / "therapies" / "results" / "summary.json").read_text())
    readme = (root / "README.md").read_text()
    stroke = next(c for c in summary["clinical"] if c["protocol"] == "stroke")

    def pct(s):
        lo, mean, hi = (round(100 * s[k]) for k in ("min", "mean", "max"))
        return f"{mean} %" if lo == hi else f"{mean} % ({lo}–{hi})"

    assert "| stroke | 100 µs | 0.8 mA | " + " | ".join(pct(stroke[t]) for t in ("A-motor", "A-sensory", "B", "C",
                                                                               "whole nerve")) + " |" in readme
    windows = [w for w in summary["windows"] if "nerve" not in w]
    lo = min(w["ratio"]["mean"] for w in windows)
    hi = max(w["ratio"]["mean"] for w in windows)
    assert f"{lo:.2f}–{hi:.2f}" in readme


@pytest.mark.parametrize("edit, key", [
    (lambda s: s["fibre"][2].update(model="mrg-nonexistent"), "fibre.model (B)"),
    (lambda s: s["fibre"][3]["diameter"].update(max=4.0), "fibre.diameter (C)"),
    (lambda s: s["protocol"][0].update(width_ms=0.2), "protocol.width_ms (stroke)"),
    (lambda s: s["window"].update(side="A-laryngeal"), "window"),
])
def test_a_broken_study_is_refused_before_any_field_is_solved(study, edit, key):
    import copy

    broken = copy.deepcopy(study)
    edit(broken)
    with pytest.raises(ValueError, match=re.escape(key)):
        run.check_study(broken)
    run.check_study(study)


def test_a_nerve_too_small_for_its_fascicles_is_refused(study):
    crowded = dict(study["nerve"], fascicles=25)  # 5.6 mm2 of fascicles in a 3.0 mm2 nerve
    with pytest.raises(ValueError, match="nerve: 25 fascicles"):
        run.random_nerve(crowded, 0)
