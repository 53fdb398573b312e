"""Solved fields as data: cache by spec hash, save/load, superposition of per-contact solutions, sampling at
fibre sections for Stimulation, bad input."""
import time

import numpy as np
import pytest
from conftest import require

from nervesim import Stimulation, Waveform, build_fibre
from nervesim.errors import ParameterError

require("ngsolve")
from nervesim.field import Contact, Fascicle, Field, FieldSpec, MeshSettings, field_cache_dir, solve_field  # noqa: E402
from nervesim.field.p2 import from_ngsolve  # noqa: E402
from nervesim.field.solve import potential_cf, solve_loads  # noqa: E402

SPEC = FieldSpec(nerve_diameter_um=1200, fascicles=(Fascicle(-150, 0, 500), Fascicle(250, 100, 300)),
                 contacts=(Contact(800, 0, 3000), Contact(-800, 100, 5000)), medium_radius_um=2500,
                 medium_length_um=8000, perineurium_thickness="HUMAN_VN_INHOUSE_200601",
                 mesh=MeshSettings(order=2, h_far_um=1000, h_nerve_um=250, h_contact_um=60))


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("NERVESIM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    t0 = time.perf_counter()
    field = solve_field(SPEC)
    solve_s = time.perf_counter() - t0
    yield field, solve_s
    mp.undo()


def test_cache_keyed_by_hash_and_round_trip(cached, tmp_path):
    field, solve_s = cached
    path = field_cache_dir() / f"{SPEC.hash()}.npz"
    assert path.is_file()
    t0 = time.perf_counter()
    again = solve_field(SPEC)  # from the cache: no meshing
    assert time.perf_counter() - t0 < solve_s / 3
    assert again.info == field.info and again.spec == SPEC
    x, y, z = np.array([-150.0, 250.0, 0.0]), np.array([0.0, 100.0, -400.0]), np.array([3000.0, 4000.0, 7000.0])
    assert np.array_equal(again.sample(x, y, z, [1, 0.5]), field.sample(x, y, z, [1, 0.5]))
    copy = Field.load(field.save(tmp_path / "f.npz"))
    assert (tmp_path / "f.npz").stat().st_mode & 0o044 == 0o044  # readable by others, like any output file
    assert not list(tmp_path.glob("*.tmp.npz"))
    assert np.array_equal(copy.sample(x, y, z, [0.2, -1]), field.sample(x, y, z, [0.2, -1]))
    for key in ("spec_hash", "versions", "elements", "unknowns", "mesh_s", "solve_s", "peak_rss_MB"):
        assert key in field.info


def test_superposition(cached):
    """Weighted per-contact solutions equal one solve with both sources (weights 1 and -0.6), within 1e-9."""
    field, _ = cached
    mesh = field.ngsolve_mesh
    both = [((c.x_um, c.y_um, c.z_um), w) for c, w in zip(SPEC.contacts, (1.0, -0.6))]
    fes, vec = solve_loads(mesh, SPEC, [both])
    import ngsolve as ng
    gf = ng.GridFunction(fes)
    gf.vec.FV().NumPy()[:] = vec[0] * 1e3
    x = np.array([-150.0, 250.0, -100.0, 600.0])
    y = np.array([0.0, 100.0, 50.0, -300.0])
    z = np.array([3000.0, 4000.0, 5000.0, 1000.0])
    # evaluated as the field evaluates (NGSolve's own point search extrapolates up to ~1e-4 outside an element)
    p2, values = from_ngsolve(mesh, [potential_cf(mesh, SPEC, gf)], lambda m: m.startswith("endo_"))
    direct = p2.evaluate(values, [1.0], *p2.locate(np.stack([x, y, z], axis=1)))
    assert field.sample(x, y, z, [1.0, -0.6]) == pytest.approx(direct, rel=1e-9)
    # and each basis alone is a different field (the weights matter)
    assert not np.allclose(field.sample(x, y, z, [1, 0]), direct, rtol=1e-3)


def test_potentials_place_the_fibre(cached):
    """Section z = the fibre's own z shifted so its centre node sits at fibre_z_um (default mid-length); the array
    goes into Stimulation unchanged."""
    field, _ = cached
    fibre = build_fibre("mrg-interp", 2.0, n_nodes=21)
    z = field.section_z_um(fibre)
    assert z[fibre.node_sections[fibre.centre_node]] == pytest.approx(4000.0)
    assert np.diff(z) == pytest.approx(np.diff(fibre.z_um))
    v = field.potentials(fibre, -150, 0, weights=[1, -1], fibre_z_um=3500)
    expected = field.sample(np.full(z.size, -150.0), np.zeros(z.size), z - 500, [1, -1])
    assert v == pytest.approx(expected, rel=1e-12)
    stim = Stimulation(fibre, v, Waveform.monophasic(0.1))
    assert np.array_equal(stim.ve_mV, v)


def test_samples_equal_ngsolve_evaluation(cached):
    """The stored second-order nodes reproduce NGSolve's solution on its curved mesh: at 3000 random points, a third
    within 20 um of a perineurium (curved elements, both sides of the jump), the sampled potential equals NGSolve's
    own evaluation to 1e-10 of the largest value (measured 1.3e-14) wherever NGSolve's point lies inside its
    element: its search accepts points up to ~1e-4 outside an element (reference coordinates) and extrapolates,
    or evaluates the far side of a perineurium; such points (2 of 3000) are left out."""
    import ngsolve as ng

    field, _ = cached
    mesh = field.ngsolve_mesh
    fes, vec = solve_loads(mesh, SPEC, [[((c.x_um, c.y_um, c.z_um), 1.0)] for c in SPEC.contacts])
    rng = np.random.default_rng(5)
    n = 1000
    r, t = 600 * np.sqrt(rng.uniform(size=n)), rng.uniform(0, 2 * np.pi, n)
    x, y = [r * np.cos(t)], [r * np.sin(t)]
    for f in SPEC.fascicles:  # rings of width 40 um around each perineurium
        rr, tt = f.diameter_um / 2 + rng.uniform(-20, 20, n), rng.uniform(0, 2 * np.pi, n)
        x.append(f.x_um + rr * np.cos(tt))
        y.append(f.y_um + rr * np.sin(tt))
    x, y = np.concatenate(x), np.concatenate(y)
    z = rng.uniform(0, SPEC.medium_length_um, x.size)
    assert field.mesh._locator()[0][field.mesh.locate(np.stack([x, y, z], 1))[0]].sum() > 1000  # curved elements
    for k in range(2):
        gf = ng.GridFunction(fes)
        gf.vec.FV().NumPy()[:] = vec[k] * 1e3
        points = mesh(x * 1e-3, y * 1e-3, z * 1e-3)
        lam = np.stack([points["x"], points["y"], points["z"], 1 - points["x"] - points["y"] - points["z"]])
        inside = lam.min(axis=0) >= 0
        assert inside.mean() > 0.99
        direct = np.asarray(potential_cf(mesh, SPEC, gf)(points)).ravel()
        sampled = field.sample(x, y, z, np.eye(2)[k])
        assert np.max(np.abs(sampled - direct)[inside]) < 1e-10 * np.max(np.abs(direct))


@pytest.mark.parametrize("call, parameter", [
    (lambda f, fib: f.potentials(fib, 0, 400, [1, -1]), "x_um"),  # between the fascicles: epineurium
    (lambda f, fib: f.potentials(fib, -150, 0, [1]), "weights"),
    (lambda f, fib: f.potentials(fib, -150, 0), "weights"),
    (lambda f, fib: f.potentials(fib, -150, 0, [1, np.nan]), "weights"),
    (lambda f, fib: f.potentials(fib, -150, 0, [1, 0], fibre_z_um=500), "fibre_z_um"),
    (lambda f, fib: f.potentials(fib, np.inf, 0, [1, 0]), "x_um"),
    (lambda f, fib: f.sample([0.0], [0.0], [9000.0], [1, 0]), "z_um"),
    (lambda f, fib: f.sample([3000.0], [0.0], [100.0], [1, 0]), "x_um"),
])
def test_bad_sampling_input(cached, call, parameter):
    field, _ = cached
    with pytest.raises(ParameterError) as err:
        call(field, build_fibre("mrg-interp", 2.0, n_nodes=21))
    assert err.value.parameter == parameter


def test_load_refuses_non_field(tmp_path):
    """Not a field, a missing file, and a field of the first format (a pickled netgen mesh): refused naming
    ``field``; `solve_field` solves again over such a cache entry."""
    import json
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.zeros(3))
    old = tmp_path / "old.npz"
    np.savez(old, meta=np.frombuffer(json.dumps({"format": 1}).encode(), dtype=np.uint8), mesh=np.zeros(3))
    for path in (bad, tmp_path / "missing.npz", old):
        with pytest.raises(ParameterError) as err:
            Field.load(path)
        assert err.value.parameter == "field"


def test_fitting_fibre_matches_ascent_node_counts():
    """§7: 2.1, 3.6, 7.8 um MRG-interpolation fibres in a 25 mm model have 121, 75 and 29 nodes."""
    from nervesim.field import fitting_fibre
    assert [fitting_fibre("mrg-interp", d, 25000.0).n_nodes for d in (2.1, 3.6, 7.8)] == [121, 75, 29]


def test_size_estimate_and_refusal(cached):
    """The pre-mesh estimate is within 30 % of the real mesh (it is fitted to this and nine other meshes: 25 %);
    a model estimated above the memory limit is refused before meshing, naming the mesh size."""
    import dataclasses

    from nervesim.field.mesh import estimate_size
    field, _ = cached
    est = estimate_size(SPEC)
    assert est["elements"] == pytest.approx(field.info["elements"], rel=0.3)
    assert est["unknowns"] == pytest.approx(field.info["unknowns"], rel=0.3)
    fine = dataclasses.replace(SPEC, mesh=dataclasses.replace(SPEC.mesh, h_nerve_um=5.0))
    t0 = time.perf_counter()
    with pytest.raises(ParameterError) as err:
        solve_field(fine, cache=False)
    assert err.value.parameter == "mesh.h_nerve_um" and "GB" in str(err.value)
    assert time.perf_counter() - t0 < 1.0
    with pytest.raises(ParameterError):
        solve_field(SPEC, cache=False, max_memory_GB=0.1)


def test_plot_field_writes_the_figure(cached, tmp_path):
    """plot_field writes an 11 x 4.5 inch PNG at 120 dpi (cross-section and potential panels)."""
    import matplotlib.image

    from nervesim.field.plot import plot_field
    field, _ = cached
    out = plot_field(field, tmp_path / "f.png", {"2 um": build_fibre("mrg-interp", 2.0, n_nodes=21)}, (-150, 0),
                     weights=[1, -1])
    assert matplotlib.image.imread(out).shape[:2] == (540, 1320)


def test_threshold_jobs_fit_each_fibre_with_its_node_phase(cached):
    """Each job's fibre is ASCENT's fitted fibre of the model length less one internode at each end, its centre node
    at the model's mid-length plus phase x internode (as recruitment places fibres); the job carries exactly those
    sampled potentials, and recruitment in the field (no n_nodes) runs the same fibres."""
    from nervesim.analyses import FibrePopulation, recruitment
    from nervesim.field import fitting_fibre

    field, _ = cached
    pop = FibrePopulation(np.array([-150.0, 250.0]), np.array([0.0, 100.0]), np.array([2.0, 5.7]),
                          np.array([0.0, 0.6]))
    pulse = Waveform.monophasic(0.1)
    jobs = field.threshold_jobs("mrg-interp", pop, pulse, [1, -1], dt_ms=0.005)
    length = SPEC.medium_length_um
    for job, x, y, d, phase in zip(jobs, pop.x_um, pop.y_um, pop.diameter_um, pop.z_offset_um):
        whole = fitting_fibre("mrg-interp", d, length)
        spacing = whole.node_z_um[1] - whole.node_z_um[0]
        fibre = fitting_fibre("mrg-interp", d, length - 2 * spacing)
        assert job.n_nodes == fibre.n_nodes == whole.n_nodes - 2 and job.waveform is pulse and job.dt_ms == 0.005
        expected = field.potentials(fibre, x, y, [1, -1], fibre_z_um=length / 2 + phase * spacing)
        assert np.array_equal(job.electrode, expected)
    assert not np.array_equal(jobs[1].electrode, field.potentials(fibre, 250.0, 100.0, [1, -1]))  # the phase moved it
    rec = recruitment("mrg-interp", pop, field.electrode([1, -1]), pulse, dt_ms=0.005, warm_start=False)
    from nervesim.population import find_thresholds
    direct = [o.result.threshold_mA for o in find_thresholds(jobs, warm_start=False)]
    assert rec.thresholds_mA == pytest.approx(direct, rel=1e-12)  # positions summed in another order: 1e-15
