"""``nervesim field`` and ``--field`` on threshold, simulate and recruitment (issue 9, scope 4), on the layered
cylinder of test_field_analytic (a few seconds to solve), checked against the library on the same arrays and
against the exact field of volume-conductor.md §8.5."""
import json
import time

import numpy as np
import pytest
from conftest import require
from test_field_analytic import S_EPI, exact_layered

from nervesim import Waveform, build_fibre, find_threshold
from nervesim.cli import main

require("ngsolve")
from nervesim.field import Field  # noqa: E402

# The layered cylinder of test_field_analytic.layered as a TOML spec.
SPEC = f"""
[nerve]
diameter_um = 2400
[[fascicle]]
x_um = 0
y_um = 0
diameter_um = 1690
[perineurium]
thickness = 46.48
resistivity_ohm_m = 1149
[materials]
medium = {S_EPI!r}
epineurium = {S_EPI!r}
[medium]
radius_um = 3000
length_um = 12000
[[contact]]
x_um = 1671
y_um = 0
z_um = 6000
[mesh]
order = 2
h_far_um = 1200
h_nerve_um = 300
h_contact_um = 50
"""
FIBRE = ["--model", "mrg-interp", "--diameter-um", "2", "--nodes", "41"]
RUN = ["--pulse", "mono", "--width-ms", "0.3", "--dt-ms", "0.005"]


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """The spec solved by ``nervesim field`` into a fresh cache; yields (folder, field file, its JSON report)."""
    folder = tmp_path_factory.mktemp("field")
    mp = pytest.MonkeyPatch()
    mp.setenv("NERVESIM_CACHE_DIR", str(folder / "cache"))
    (folder / "spec.toml").write_text(SPEC)
    out = folder / "f.npz"
    yield folder, out, _run_json(["field", str(folder / "spec.toml"), "--out", str(out), "--json"])
    mp.undo()


def _run_json(argv):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return json.loads(buf.getvalue())


def test_field_command_reports_and_caches(solved, tmp_path, monkeypatch):
    folder, out, report = solved
    field = Field.load(out)
    assert report["spec_hash"] == field.info["spec_hash"] == field.spec.hash()
    assert report["unknowns"] == field.info["unknowns"] > 10000 and report["elements"] == field.info["elements"]
    assert 0.05 < report["min_quality"] == field.info["min_quality"] <= 1
    assert report["from_cache"] is False and report["peak_rss_MB"] > 0 and report["mesh_s"] > 0
    import nervesim.field.mesh

    def no_meshing(spec):
        raise AssertionError("meshed again")

    monkeypatch.setattr(nervesim.field.mesh, "build_mesh", no_meshing)  # the same spec: read from the cache
    again = _run_json(["field", str(folder / "spec.toml"), "--out", str(tmp_path / "g.npz"), "--json",
                       "--plot", str(tmp_path / "g.png")])
    assert again["from_cache"] is True and again["unknowns"] == report["unknowns"]
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    x, y, z = [0.0, 300.0], [0.0, 200.0], [6000.0, 5000.0]
    assert np.array_equal(Field.load(tmp_path / "g.npz").sample(x, y, z), field.sample(x, y, z))


def test_threshold_with_field_matches_library_and_exact_field(solved):
    """The CLI threshold equals find_threshold on Field.potentials (same arrays, exactly) and lies within 1 % of
    the threshold from the exact layered-cylinder potentials (§8.5, bounded)."""
    _, out, report = solved
    got = _run_json(["threshold", "--field", str(out), "--x-um", "300", "--y-um", "200", *FIBRE, *RUN, "--json"])
    fibre = build_fibre("mrg-interp", 2.0, 41)
    field = Field.load(out)
    wave = Waveform.monophasic(0.3)
    lib = find_threshold(fibre, field.potentials(fibre, 300, 200), wave, dt_ms=0.005).threshold_mA
    assert got["threshold_mA"] == lib
    exact = exact_layered(np.hypot(300, 200), np.arctan2(200, 300), field.section_z_um(fibre))
    assert got["threshold_mA"] == pytest.approx(find_threshold(fibre, exact, wave, dt_ms=0.005).threshold_mA,
                                                rel=0.01)
    assert got["electrode"] == {"kind": "field", "field": str(out), "spec_hash": report["spec_hash"],
                                "weights": [1.0], "fibre_z_um": 6000.0, "fibre_x_um": 300.0, "fibre_y_um": 200.0}


def test_simulate_with_field_fires_above_threshold_only(solved):
    """simulate --field at 1 % above / below the threshold --field gives (same fibre, centre node moved to
    z = 5 mm) fires / does not; an epineurial fibre runs only with --epineurial."""
    _, out, _ = solved
    place = ["--field", str(out), "--x-um", "-400", "--y-um", "0", "--fibre-z-um", "5000", *FIBRE, *RUN]
    thr = _run_json(["threshold", *place, "--tolerance", "1e-4", "--json"])["threshold_mA"]
    assert _run_json(["simulate", *place, "--amplitude-ma", str(1.01 * thr), "--json"])["fired"] is True
    assert _run_json(["simulate", *place, "--amplitude-ma", str(0.99 * thr), "--json"])["fired"] is False
    epi = ["--field", str(out), "--x-um", "1000", "--y-um", "0", *FIBRE, *RUN, "--amplitude-ma", "1", "--json"]
    assert _run_json(["simulate", *epi, "--epineurial"])["electrode"]["fibre_x_um"] == 1000.0


def test_recruitment_per_fascicle_places_fibres_and_matches_single_thresholds(solved):
    """--per-fascicle N: N fibres wholly inside the fascicle; each fibre's threshold is the one of the same fibre
    placed by Field.potentials (centre node at mid-length + its node phase), to the search tolerance: populations
    start each search from their neighbours' thresholds, so their bracket differs from a cold search's, but both
    upper ends lie within 0.1 % above the same threshold."""
    _, out, _ = solved
    rec = _run_json(["recruitment", "--field", str(out), "--per-fascicle", "3", "--diameters-um", "2,3", "--seed",
                     "4", "--model", "mrg-interp", "--nodes", "21", *RUN, "--json"])
    x, y, d = (np.array(rec[k]) for k in ("x_um", "y_um", "diameters_um"))
    assert len(x) == 3 and np.all(np.hypot(x, y) + d / 2 < 845) and len(set(x)) == 3
    field = Field.load(out)
    _, _, _, phase = field.fibre_places((2, 3), 3, 4)
    for i in range(3):
        fibre = build_fibre("mrg-interp", d[i], 21)
        centre = 6000 + phase[i] * fibre.geometry["deltax_um"]
        v = field.potentials(fibre, x[i], y[i], fibre_z_um=centre)
        lib = find_threshold(fibre, v, Waveform.monophasic(0.3), dt_ms=0.005).threshold_mA
        assert rec["thresholds_mA"][i] == pytest.approx(lib, rel=1e-3)
    centres = _run_json(["recruitment", "--field", str(out), "--diameters-um", "2,2", "--model", "mrg-interp",
                         "--nodes", "21", *RUN, "--json"])
    assert (centres["x_um"], centres["y_um"]) == ([0.0], [0.0])


@pytest.mark.parametrize("argv, flag", [
    (["threshold", "--field", "{d}/missing.npz", "--x-um", "0", "--y-um", "0"], "--field"),
    (["threshold", "--field", "{d}/spec.toml", "--x-um", "0", "--y-um", "0"], "--field"),
    (["threshold", "--field", "{f}", "--x-um", "0", "--y-um", "0", "--weights", "1,-1"], "--weights"),
    (["threshold", "--field", "{f}", "--x-um", "1000", "--y-um", "0"], "--x-um/--y-um"),
    (["threshold", "--field", "{f}", "--x-um", "844.5", "--y-um", "0"], "--x-um/--y-um"),  # centre in, fibre across
    (["threshold", "--field", "{f}", "--x-um", "0"], "--y-um"),
    (["threshold", "--field", "{f}", "--x-um", "0", "--y-um", "0", "--fibre-z-um", "500"], "--fibre-z-um"),
    (["threshold", "--field", "{f}", "--x-um", "0", "--y-um", "0", "--sigma", "0.3"], "--sigma"),
    (["threshold", "--x-um", "0", "--y-um", "0", "--sigma", "0.3", "--weights", "1"], "--weights"),
    (["recruitment", "--field", "{f}", "--fibres", "10"], "--fibres"),
    (["recruitment", "--field", "{f}", "--x-um", "0,10", "--y-um", "0"], "--x-um/--y-um"),
    (["recruitment", "--field", "{f}", "--x-um", "0,1000", "--y-um", "0,0"], "--x-um/--y-um"),
])
def test_bad_field_input_exit_2_one_line(solved, capsys, argv, flag):
    folder, out, _ = solved
    argv = [a.format(d=folder, f=out) for a in argv]
    extra = FIBRE if argv[0] == "threshold" else ["--model", "mrg-interp"]
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as exc:
        main(argv + extra + RUN)
    assert exc.value.code == 2 and time.perf_counter() - t0 < 2  # refused before any search
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"argument {flag}:" in err


@pytest.mark.parametrize("change, words", [
    (("diameter_um = 1690", "diameter_um = -5"), ["SPEC.toml", "fascicle[0].diameter_um"]),
    (("[nerve]\ndiameter_um", "[nerve]\ndiametr_um"), ["SPEC.toml", "diametr_um"]),
    (("thickness = 46.48", 'thickness = "NO_SUCH_RULE"'), ["SPEC.toml", "perineurium.thickness"]),
    (("x_um = 1671", "x_um = 5000"), ["SPEC.toml", "contact[0]"]),
])
def test_bad_spec_exit_2_naming_the_key_before_meshing(tmp_path, monkeypatch, capsys, change, words):
    monkeypatch.setenv("NERVESIM_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "s.toml").write_text(SPEC.replace(*change))
    with pytest.raises(SystemExit) as exc:
        main(["field", str(tmp_path / "s.toml"), "--out", str(tmp_path / "f.npz")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and all(w in err for w in words)
    assert not (tmp_path / "f.npz").exists() and not (tmp_path / "cache").exists()


def test_field_output_paths_checked_first(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(SPEC)
    (tmp_path / "keep.npz").write_text("not a field")
    for argv, flag in ((["--out", str(tmp_path / "f.txt")], "--out"),
                       (["--out", str(tmp_path / "nodir" / "f.npz")], "--out"),
                       (["--out", str(tmp_path / "keep.npz")], "--out"),
                       (["--out", str(tmp_path / "f.npz"), "--plot", str(tmp_path / "f.npz")], "--plot"),
                       (["--out", str(tmp_path / "f.npz"), "--weights", "1,2"], "--weights")):
        with pytest.raises(SystemExit) as exc:
            main(["field", str(tmp_path / "s.toml"), *argv])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and err.startswith("nervesim field: error: argument " + flag), err
    assert (tmp_path / "keep.npz").read_text() == "not a field"


def test_load_field_reads_once_until_the_file_changes(solved, tmp_path):
    """load_field (what --field and sweeps use) returns the same object for an unchanged file and rereads a
    rewritten one."""
    import os

    from nervesim.field import load_field
    _, out, _ = solved
    copy = Field.load(out).save(tmp_path / "c.npz")
    first = load_field(copy)
    assert load_field(copy) is first
    os.utime(copy, ns=(0, os.stat(copy).st_mtime_ns + 10**9))  # as if written again
    assert load_field(copy) is not first


def test_sweep_with_a_field(solved, tmp_path, capsys):
    """A sweep over fibre places in a field: each stored threshold equals find_threshold on the field's
    potentials for that place; the field file is found next to the spec and a bad weight count is refused
    before anything runs."""
    folder, out, _ = solved
    spec = folder / "sweep.toml"
    spec.write_text(f"""
[fibre]
model = "mrg-interp"
diameter_um = 2.0
n_nodes = 41
[electrode]
kind = "field"
field = "{out.name}"
x_um = [0.0, 300.0]
weights = [1.0]
[waveform]
width_ms = 0.3
[run]
dt_ms = 0.005
""")
    db = tmp_path / "s.db"
    assert main(["sweep", str(spec), "--store", str(db), "--quiet"]) == 0
    from nervesim.sweep import load_results

    rows = load_results(db)
    assert list(rows["status"]) == ["ok", "ok"]
    field = Field.load(out)
    fibre = build_fibre("mrg-interp", 2.0, 41)
    for x, thr in zip(rows["electrode.x_um"], rows["threshold_mA"]):
        ref = find_threshold(fibre, field.potentials(fibre, x, 0.0, [1.0]), Waveform.monophasic(0.3), dt_ms=0.005)
        assert thr == ref.threshold_mA
    capsys.readouterr()
    spec.write_text(spec.read_text().replace("weights = [1.0]", "weights = [1.0, -1.0]"))
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(spec), "--store", str(tmp_path / "t.db"), "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "electrode.weights" in err


ELLIPSES = """
[nerve]
shape = "ellipse"
axes_um = [2200, 1700]
angle_deg = 15
[[fascicle]]
shape = "ellipse"
x_um = 100
y_um = -50
axes_um = [1200, 700]
angle_deg = 20
[perineurium]
thickness = "PIG_VN_INHOUSE_200523"
[medium]
radius_um = 2500
length_um = 8000
[[contact]]
x_um = 1400
y_um = 0
z_um = 4000
[mesh]
h_far_um = 1000
h_nerve_um = 250
h_contact_um = 60
"""


def test_field_command_on_an_ellipse_spec(tmp_path, monkeypatch, capsys):
    """``nervesim field`` solves an ellipse nerve with an ellipse fascicle (hash as the library's, plot written);
    recruitment --per-fascicle puts every fibre wholly inside the ellipse (distance to 100 000 boundary points >
    the fibre radius); a fibre inside the ellipse's bounding box but outside it is refused naming the flag; a bad
    axis is refused before meshing, naming its key."""
    from nervesim.field import load_spec
    monkeypatch.setenv("NERVESIM_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "e.toml").write_text(ELLIPSES)
    out = tmp_path / "e.npz"
    report = _run_json(["field", str(tmp_path / "e.toml"), "--out", str(out), "--json", "--plot",
                        str(tmp_path / "e.png")])
    assert report["spec_hash"] == load_spec(tmp_path / "e.toml").hash() and report["from_cache"] is False
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"
    rec = _run_json(["recruitment", "--field", str(out), "--per-fascicle", "3", "--diameters-um", "2,3", "--seed",
                     "1", "--model", "mrg-interp", "--nodes", "21", *RUN, "--json"])
    x, y, d = (np.array(rec[k]) for k in ("x_um", "y_um", "diameters_um"))
    t = np.linspace(0, 2 * np.pi, 100_000, endpoint=False)
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    bx, by = 100 + c * 600 * np.cos(t) - s * 350 * np.sin(t), -50 + s * 600 * np.cos(t) + c * 350 * np.sin(t)
    u, v = c * (x - 100) + s * (y + 50), -s * (x - 100) + c * (y + 50)
    assert len(x) == 3 and np.all((u / 600) ** 2 + (v / 350) ** 2 < 1)
    assert all(np.min(np.hypot(bx - xi, by - yi)) > di / 2 for xi, yi, di in zip(x, y, d))
    corner = (100 + c * 500 + s * 300, -50 + s * 500 - c * 300)  # (500, -300) in the ellipse frame: outside
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["threshold", "--field", str(out), "--x-um", f"{corner[0]:.3f}", "--y-um", f"{corner[1]:.3f}", *FIBRE,
              *RUN])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "argument --x-um/--y-um:" in err
    (tmp_path / "bad.toml").write_text(ELLIPSES.replace("axes_um = [1200, 700]", "axes_um = [1200, -700]"))
    with pytest.raises(SystemExit) as exc:
        main(["field", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "bad.npz")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "fascicle[0].axes_um[1]" in err


def test_field_plot_with_a_polygon_fascicle(tmp_path, monkeypatch):
    """``nervesim field --plot`` draws its fibre at the fascicle's area centroid, which a polygon has too (it has
    no x_um: the plot failed on one)."""
    monkeypatch.setenv("NERVESIM_CACHE_DIR", str(tmp_path / "cache"))
    square = 'shape = "polygon"\nvertices_um = [[-300, -300], [400, -300], [400, 400], [-300, 400]]\n'
    fascicle = 'shape = "ellipse"\nx_um = 100\ny_um = -50\naxes_um = [1200, 700]\nangle_deg = 20\n'
    spec = ELLIPSES.replace(fascicle, square)
    assert square in spec
    (tmp_path / "p.toml").write_text(spec)
    _run_json(["field", str(tmp_path / "p.toml"), "--out", str(tmp_path / "p.npz"), "--json", "--plot",
               str(tmp_path / "p.png")])
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_threshold_without_nodes_fits_the_fibre_to_the_model(solved):
    """Without --nodes, the fibre is ASCENT's (volume-conductor.md §7): whole internodes within the model, centred at
    --fibre-z-um. 7.8 um MRG interpolation: ΔZ = -8.215 D² + 272.4 D - 780.2 = 844.72 um; a 12 mm model holds
    floor(12000 / ΔZ) + 1 = 15 nodes; centred at z = 4 mm, the 8 mm within reach hold 10, made odd: 9."""
    _, out, _ = solved
    place = ["--field", str(out), "--x-um", "0", "--y-um", "0", "--model", "mrg-interp", "--diameter-um", "7.8", *RUN,
             "--json"]
    assert _run_json(["threshold", *place])["nodes"] == 15
    assert _run_json(["threshold", *place, "--fibre-z-um", "4000"])["nodes"] == 9


def test_recruitment_in_a_field_fits_each_fibre(solved, capsys):
    """Without --nodes, recruitment in a field fits every fibre to the 12 mm model (whole internodes, one fewer at
    each end for its node phase): 10-14 um fibres, whose default 51 nodes would span 55-70 mm, all get a threshold;
    with --nodes 51 the run is refused in one line that says so."""
    _, out, _ = solved
    argv = ["recruitment", "--field", str(out), "--per-fascicle", "2", "--diameters-um", "10,14", "--seed", "1",
            "--model", "mrg-interp", *RUN, "--json"]
    fitted = _run_json(argv)
    assert fitted["failed"] == 0 and all(t is not None and 0 < t < 50 for t in fitted["thresholds_mA"])
    with pytest.raises(SystemExit) as exc:
        main(argv + ["--nodes", "51"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "outside the model" in err and "fewer nodes" in err
