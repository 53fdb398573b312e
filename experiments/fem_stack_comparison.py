"""Measured comparison of two pip-only finite-element stacks for the nervesim volume conductor (issue 9).

Both stacks solve the same problem: a 1 A point source in a homogeneous anisotropic cylinder
(muscle, sigma = diag(0.086, 0.086, 0.35) S/m; radius 4 mm, length 25 mm: the Yoo-sized medium of
volume-conductor.md §7), source at (1.671, 0, 12.5) mm (the helical-cuff source radius), the exact
potential of §8.2 imposed on the whole outer surface (§8.9: removes truncation error), second-order
Lagrange elements, mesh 1.6 mm far away, 0.2 mm inside r < 1.8 mm, 0.05 mm at the source.
Error: potentials at a fibre's sites (x, y) = (0.185, -0.133) mm, z in [2.5, 22.5] mm every 0.1 mm,
against §8.2.

Stacks: A) ngsolve + netgen-mesher (OCC geometry, LGPL-2.1), sparse Cholesky or CG + BDDC;
B) gmsh (GPL-2+, meshing only) + scikit-fem (BSD-3) + pyamg (MIT), CG + smoothed-aggregation AMG.

Run: ``pip install ngsolve gmsh scikit-fem pyamg`` (stack B is not a nervesim dependency), then
``python experiments/fem_stack_comparison.py [--json]`` (each stack in its own process so peak memory is its
own; about a minute on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

SIGMA = (0.086, 0.086, 0.35)
RADIUS_MM, LENGTH_MM = 4.0, 25.0
SOURCE_MM = (1.671, 0.0, 12.5)
H_FAR, H_NERVE, H_SOURCE, R_NERVE = 1.6, 0.2, 0.05, 1.8
FIBRE_XY_MM = (0.185, -0.133)


def exact(x, y, z):
    """§8.2, 1 A, lengths in mm: returns mV per mA (= V per A)."""
    sx, sy, sz = SIGMA
    dx, dy, dz = (np.asarray(x) - SOURCE_MM[0]) * 1e-3, (np.asarray(y) - SOURCE_MM[1]) * 1e-3, \
        (np.asarray(z) - SOURCE_MM[2]) * 1e-3
    return 1.0 / (4 * np.pi * np.sqrt(sy * sz * dx**2 + sx * sz * dy**2 + sx * sy * dz**2))


def fibre_points():
    z = np.arange(2.5, 22.5 + 1e-9, 0.1)
    return np.column_stack([np.full_like(z, FIBRE_XY_MM[0]), np.full_like(z, FIBRE_XY_MM[1]), z])


def errors(values, pts):
    ref = exact(*pts.T)
    return {"max_rel_error": float(np.max(np.abs(values - ref) / np.abs(ref))),
            "peak_rel_error": float(abs(values.max() - ref.max()) / ref.max())}


def run_ngsolve(solver: str) -> dict:
    import ngsolve as ng
    from netgen.meshing import MeshingParameters
    from netgen.occ import Cylinder, Glue, OCCGeometry, Pnt, Z

    t0 = time.perf_counter()
    outer = Cylinder(Pnt(0, 0, 0), Z, r=RADIUS_MM, h=LENGTH_MM)
    inner = Cylinder(Pnt(0, 0, 0), Z, r=R_NERVE, h=LENGTH_MM)
    inner.maxh = H_NERVE
    shape = Glue([outer - inner, inner])
    mp = MeshingParameters(maxh=H_FAR, grading=0.3)
    mp.RestrictH(x=SOURCE_MM[0], y=SOURCE_MM[1], z=SOURCE_MM[2], h=H_SOURCE)
    mesh = ng.Mesh(OCCGeometry(shape).GenerateMesh(mp))
    mesh.Curve(2)
    t_mesh = time.perf_counter() - t0
    fes = ng.H1(mesh, order=2, dirichlet=".*")
    u, v = fes.TnT()
    sigma = ng.CoefficientFunction(SIGMA[:1] + (0, 0, 0) + SIGMA[1:2] + (0, 0, 0) + SIGMA[2:], dims=(3, 3))
    a = ng.BilinearForm(fes)
    a += (sigma * ng.grad(u)) * ng.grad(v) * ng.dx
    pre = ng.Preconditioner(a, "bddc") if solver == "cg-bddc" else None
    a.Assemble()
    b = ng.GridFunction(fes)
    mpt = mesh(*SOURCE_MM)
    ei = ng.ElementId(ng.VOL, mpt.nr)
    for dof, s in zip(fes.GetDofNrs(ei), fes.GetFE(ei).CalcShape(*mpt.pnt)):
        b.vec[dof] += s
    gf = ng.GridFunction(fes)
    xs, ys, zs = ng.x * 1e-3 - SOURCE_MM[0] * 1e-3, ng.y * 1e-3 - SOURCE_MM[1] * 1e-3, \
        ng.z * 1e-3 - SOURCE_MM[2] * 1e-3
    g = 1 / (4 * np.pi * ng.sqrt(SIGMA[1] * SIGMA[2] * xs**2 + SIGMA[0] * SIGMA[2] * ys**2
                                 + SIGMA[0] * SIGMA[1] * zs**2)) * 1e-3  # mm-scaled: phi_mm = phi_SI * 1e-3
    gf.Set(g, ng.BND)
    rhs = b.vec.CreateVector()
    rhs.data = b.vec - a.mat * gf.vec
    t1 = time.perf_counter()
    if solver == "cg-bddc":
        inv = ng.solvers.CGSolver(a.mat, pre.mat, tol=1e-10, maxiter=500)
        gf.vec.data += inv * rhs
    else:
        gf.vec.data += a.mat.Inverse(fes.FreeDofs(), inverse="sparsecholesky") * rhs
    t_solve = time.perf_counter() - t1
    pts = fibre_points()
    vals = np.array([gf(mesh(*p)) for p in pts]) * 1e3
    return {"stack": f"ngsolve {ng.__version__} ({solver})", "elements": mesh.ne, "unknowns": fes.ndof,
            "mesh_s": round(t_mesh, 2), "assemble_solve_s": round(time.perf_counter() - t0 - t_mesh, 2),
            "solve_s": round(t_solve, 2), **errors(vals, pts)}


def run_skfem() -> dict:
    import gmsh
    import pyamg
    import skfem
    from skfem.helpers import grad

    t0 = time.perf_counter()
    gmsh.initialize(["", "-nt", "2"])
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.occ.addCylinder(0, 0, 0, 0, 0, LENGTH_MM, RADIUS_MM)
    gmsh.model.occ.synchronize()
    f_cyl = gmsh.model.mesh.field.add("Cylinder")
    for k, val in (("Radius", R_NERVE), ("VIn", H_NERVE), ("VOut", H_FAR), ("ZAxis", LENGTH_MM),
                   ("ZCenter", LENGTH_MM / 2)):
        gmsh.model.mesh.field.setNumber(f_cyl, k, val)
    f_ball = gmsh.model.mesh.field.add("Ball")
    for k, val in (("Radius", 0.2), ("Thickness", 0.6), ("VIn", H_SOURCE), ("VOut", H_FAR), ("XCenter", SOURCE_MM[0]),
                   ("YCenter", SOURCE_MM[1]), ("ZCenter", SOURCE_MM[2])):
        gmsh.model.mesh.field.setNumber(f_ball, k, val)
    f_min = gmsh.model.mesh.field.add("Min")
    gmsh.model.mesh.field.setNumbers(f_min, "FieldsList", [f_cyl, f_ball])
    gmsh.model.mesh.field.setAsBackgroundMesh(f_min)
    for k in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{k}", 0)
    gmsh.model.mesh.generate(3)
    tags, coords, _ = gmsh.model.mesh.getNodes()
    _, elem_nodes = gmsh.model.mesh.getElementsByType(4)
    gmsh.finalize()
    index = np.empty(int(tags.max()) + 1, dtype=np.int64)
    index[tags.astype(np.int64)] = np.arange(len(tags))
    p = coords.reshape(-1, 3).T
    t = index[elem_nodes.astype(np.int64)].reshape(-1, 4).T
    used = np.unique(t)
    remap = np.full(p.shape[1], -1)
    remap[used] = np.arange(len(used))
    mesh = skfem.MeshTet(p[:, used], remap[t])
    t_mesh = time.perf_counter() - t0
    basis = skfem.Basis(mesh, skfem.ElementTetP2())

    @skfem.BilinearForm
    def laplace(u, v, w):
        return SIGMA[0] * grad(u)[0] * grad(v)[0] + SIGMA[1] * grad(u)[1] * grad(v)[1] \
            + SIGMA[2] * grad(u)[2] * grad(v)[2]

    A = laplace.assemble(basis)
    b = basis.point_source(np.array(SOURCE_MM))
    boundary = basis.get_dofs()
    # P2 dof values are nodal values at vertices and edge midpoints, so the exact potential interpolates directly
    x = np.zeros(basis.N)
    x[boundary] = exact(*basis.doflocs[:, boundary]) * 1e-3
    t1 = time.perf_counter()
    A_i, b_i, x_i, interior = skfem.condense(A, b, x=x, D=boundary)
    ml = pyamg.smoothed_aggregation_solver(A_i.tocsr())
    x[interior] = ml.solve(b_i, tol=1e-10, accel="cg", maxiter=500)
    t_solve = time.perf_counter() - t1
    pts = fibre_points()
    vals = basis.probes(pts.T) @ x * 1e3
    return {"stack": f"gmsh {gmsh.__version__} + scikit-fem {skfem.__version__} + pyamg {pyamg.__version__} (cg-amg)",
            "elements": int(mesh.t.shape[1]), "unknowns": int(basis.N), "mesh_s": round(t_mesh, 2),
            "assemble_solve_s": round(time.perf_counter() - t0 - t_mesh, 2), "solve_s": round(t_solve, 2),
            **errors(vals, pts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", choices=["ngsolve-direct", "ngsolve-cg-bddc", "skfem"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        res = run_skfem() if args.one == "skfem" else run_ngsolve(args.one.removeprefix("ngsolve-"))
        res["peak_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(res))
        return
    rows = []
    for one in ("ngsolve-direct", "ngsolve-cg-bddc", "skfem"):
        out = subprocess.run([sys.executable, __file__, "--one", one], capture_output=True, text=True)
        if out.returncode:
            rows.append({"stack": one, "failed": out.stderr.strip().splitlines()[-1]})
        else:
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    keys = ["stack", "elements", "unknowns", "mesh_s", "assemble_solve_s", "solve_s", "peak_rss_MB",
            "max_rel_error", "peak_rel_error"]
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.2e}" if "error" in k and k in r else str(r.get(k, "")) for k in keys) + " |")


if __name__ == "__main__":
    main()
