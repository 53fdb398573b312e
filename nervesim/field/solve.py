"""Finite-element solve of ∇·(σ∇φ) = −Σ I δ(x − x_c) with the perineurium as a thin resistive layer.

Weak form (volume-conductor.md §2), lengths in mm, φ in V for a 1 mA source:

    Σ_regions ∫ σ ∇u·∇v dx + Σ_i (10⁻³ / ρs_i) ∫_{peri_i} (u_in − u_out)(v_in − v_out) ds = v(x_c),

since in SI units s·∫σ∇̃u·∇̃v + s²·∫[u][v]/ρs = I·v(x_c) with s = 10⁻³ m/mm and I = 10⁻³ A. The potential
is discontinuous across each fascicle boundary: one H1 space outside the fascicles (medium, epineurium, cuff
parts) and one inside (the endoneurium), coupled only by the layer term. Ground (φ = 0) on the ``ground``
faces only (§1). One solve per contact at +1 mA, all others 0 (§1, superposition). φ in V per mA is
φ in mV per mA after ×10³, the unit `Stimulation` takes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .spec import FieldSpec

MM = 1e-3
OUTSIDE = "medium|epineurium|fill|insulator|conductor|recess"  # regions of the space outside the fascicles


def layered(spec: FieldSpec) -> bool:
    """Whether the fascicles carry a perineurium thin layer.

    Parameters
    ----------
    spec : FieldSpec
        The model.

    Returns
    -------
    bool
        True when the thickness is > 0.
    """
    return all(spec.perineurium_thickness_um(f) > 0 for f in spec.fascicles)


def make_space(mesh, spec: FieldSpec):
    """The H1 space of a model.

    Parameters
    ----------
    mesh : ngsolve.Mesh
        From `nervesim.field.mesh.build_mesh`.
    spec : FieldSpec
        The model.

    Returns
    -------
    ngsolve.FESpace
        One H1 space, or the product (outside, endoneurium) with a thin layer.
    """
    import ngsolve as ng

    # BDDC (see `solve_loads`): only vertex unknowns in the coarse (wirebasket) space ...
    kw = dict(order=spec.mesh.order, dirichlet="ground", wb_withedges=False)
    if not layered(spec):
        return ng.H1(mesh, **kw)
    outside = ng.Compress(ng.H1(mesh, definedon=OUTSIDE, **kw))
    inside = ng.Compress(ng.H1(mesh, definedon="endo_.*", **kw))
    fes = ng.FESpace([outside, inside])
    # ... plus every unknown on a perineurium face: the layer term alone couples u_in and u_out there, so a
    # surface element's block without them is singular and BDDC's element-wise elimination fails
    on_layer = fes.GetDofs(mesh.Boundaries("peri_.*"))
    for dof in range(fes.ndof):
        if on_layer[dof]:
            fes.SetCouplingType(dof, ng.COUPLING_TYPE.WIREBASKET_DOF)
    return fes


def _tensor(sigma):
    import ngsolve as ng

    sx, sy, sz = sigma
    return ng.CoefficientFunction((sx, 0, 0, 0, sy, 0, 0, 0, sz), dims=(3, 3))


def potential_cf(mesh, spec: FieldSpec, gf):
    """The potential of a GridFunction as one CoefficientFunction over the whole mesh.

    Parameters
    ----------
    mesh : ngsolve.Mesh
        The mesh.
    spec : FieldSpec
        The model.
    gf : ngsolve.GridFunction
        On `make_space`.

    Returns
    -------
    ngsolve.CoefficientFunction
        The endoneurium component inside fascicles, the outside one elsewhere.
    """
    if not layered(spec):
        return gf
    return mesh.MaterialCF({"endo_.*": gf.components[1]}, default=gf.components[0])


def assemble(mesh, spec: FieldSpec):
    """Assemble the weak form of the module docstring.

    Parameters
    ----------
    mesh : ngsolve.Mesh
        The mesh.
    spec : FieldSpec
        The model.

    Returns
    -------
    tuple
        (space, assembled bilinear form, BDDC preconditioner).
    """
    import ngsolve as ng

    fes = make_space(mesh, spec)
    a = ng.BilinearForm(fes, symmetric=True)
    pre = ng.Preconditioner(a, "bddc")  # registered before assembly: it collects the element matrices
    sigma = mesh.MaterialCF({f: _tensor(spec.conductivity(f)) for f in OUTSIDE.split("|")}
                            | {"endo_.*": _tensor(spec.conductivity("endoneurium"))})
    if not layered(spec):
        u, v = fes.TnT()
        a += (sigma * ng.grad(u)) * ng.grad(v) * ng.dx
    else:
        (uo, ui), (vo, vi) = fes.TnT()
        a += (sigma * ng.grad(uo)) * ng.grad(vo) * ng.dx(definedon=mesh.Materials(OUTSIDE))
        a += (sigma * ng.grad(ui)) * ng.grad(vi) * ng.dx(definedon=mesh.Materials("endo_.*"))
        for i, f in enumerate(spec.fascicles):
            g = MM / spec.sheet_resistance_ohm_m2(f)
            a += g * (ui - uo) * (vi - vo) * ng.ds(definedon=mesh.Boundaries(f"peri_{i}"))
    a.Assemble()
    return fes, a, pre


def point_load(mesh, spec: FieldSpec, fes, point_um: Sequence[float], weight: float = 1.0) -> np.ndarray:
    """Right-hand side of a point current: the basis functions' values at the point.

    The point belongs to the region of the element netgen finds for it; with a thin layer, a source inside a
    fascicle loads the endoneurium space, any other the outside space.

    Parameters
    ----------
    mesh : ngsolve.Mesh
        The mesh.
    spec : FieldSpec
        The model.
    fes : ngsolve.FESpace
        From `make_space`.
    point_um : sequence of float
        (x, y, z) µm.
    weight : float, optional
        Current (mA).

    Returns
    -------
    ndarray
        One entry per unknown.
    """
    import ngsolve as ng

    mp = mesh(*(p * MM for p in point_um))
    ei = ng.ElementId(ng.VOL, mp.nr)
    b = np.zeros(fes.ndof)
    if layered(spec):
        k = 1 if mesh[ei].mat.startswith("endo_") else 0
        space, offset = fes.components[k], fes.Range(k).start
    else:
        space, offset = fes, 0
    dofs = np.asarray(space.GetDofNrs(ei))
    shape = np.asarray(space.GetFE(ei).CalcShape(*mp.pnt))
    np.add.at(b, dofs[dofs >= 0] + offset, weight * shape[dofs >= 0])
    return b


def solve_loads(mesh, spec: FieldSpec, loads: Sequence[Sequence[tuple[Sequence[float], float]]],
                boundary_mV: Callable | None = None) -> tuple[object, np.ndarray]:
    """Solve one problem per load with CG + BDDC.

    Parameters
    ----------
    mesh : ngsolve.Mesh
        The mesh.
    spec : FieldSpec
        The model.
    loads : sequence
        Each a list of (point µm, current mA).
    boundary_mV : callable, optional
        ``f(x_um, y_um, z_um)`` written with arithmetic only (it gets ngsolve coordinates): the potential (mV) on
        the ``ground`` faces instead of 0, for tests against infinite-medium solutions (§8.9).

    Returns
    -------
    tuple
        (space, array of shape (n_loads, n_unknowns)): coefficients of φ in V.
    """
    import ngsolve as ng

    with ng.TaskManager():  # every core: both Yoo solves in 50 s instead of 135 s on two
        fes, a, pre = assemble(mesh, spec)
        # CG with BDDC: 13x faster than NGSolve's sparse Cholesky once assembled (STACK.md), far less fill-in
        # memory; residual 1e-10 leaves the potentials equal to the direct solve's to ~1e-10
        inverse = ng.solvers.CGSolver(a.mat, pre.mat, tol=1e-10, maxiter=2000)
        lifted = ng.GridFunction(fes)
        if boundary_mV is not None:
            cf = boundary_mV(ng.x / MM, ng.y / MM, ng.z / MM) * 1e-3
            comps = lifted.components if layered(spec) else (lifted,)
            for c in comps:
                c.Set(cf, ng.BND, definedon=mesh.Boundaries("ground"))
        out = np.empty((len(loads), fes.ndof))
        gf = ng.GridFunction(fes)
        rhs = gf.vec.CreateVector()
        for n, load in enumerate(loads):
            b = sum(point_load(mesh, spec, fes, p, w) for p, w in load)
            rhs.FV().NumPy()[:] = b
            rhs.data -= a.mat * lifted.vec
            gf.vec.data = lifted.vec + inverse * rhs
            if inverse.iterations >= inverse.maxiter:
                from .mesh import element_quality
                raise RuntimeError(f"CG did not converge in {inverse.maxiter} iterations (load {n}); the mesh's "
                                   f"worst element quality is {element_quality(mesh).min():.3g} (below ~0.05 it "
                                   "stalls: refine h_nerve_um or h_contact_um where thin layers meet)")
            out[n] = gf.vec.FV().NumPy()
    return fes, out
