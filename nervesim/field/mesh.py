"""Geometry and mesh of a `FieldSpec` with netgen's OCC kernel (lengths in mm inside the mesh).

Regions: ``medium`` (outside the nerve), ``epineurium`` (nerve minus fascicles), ``endo_<i>`` (fascicle i).
Boundaries are named *after* meshing from where their faces lie, because names set on faces before the
boolean operations are unreliable on shared faces: ``ground`` (the medium's lateral surface and both end
planes, every region's end faces included, §1), ``peri_<i>`` (the lateral surface of fascicle i: the
perineurium thin layer, §2), ``nerve`` (the epineurium's outer surface; interior, continuous).
"""
from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .spec import FieldSpec

MM = 1e-3  # µm -> mm


def _classify_faces(ngmesh, spec: FieldSpec) -> None:
    """Name every face descriptor of ``ngmesh`` from the coordinates of its surface-element vertices."""
    xyz = ngmesh.Coordinates()
    elems = ngmesh.Elements2D().NumPy()
    tol = 1e-6 * max(spec.medium_radius_um, spec.medium_length_um) * MM
    length = spec.medium_length_um * MM
    for fd in range(ngmesh.GetNFaceDescriptors()):
        nodes = elems["nodes"][elems["index"] == fd + 1]
        pts = xyz[nodes[nodes > 0].ravel() - 1]
        if pts.size == 0:
            continue
        r = np.hypot(pts[:, 0], pts[:, 1])
        if np.all(np.abs(pts[:, 2]) < tol) or np.all(np.abs(pts[:, 2] - length) < tol) or \
                np.all(np.abs(r - spec.medium_radius_um * MM) < tol):
            name = "ground"
        elif np.all(np.abs(r - spec.nerve_diameter_um / 2 * MM) < tol):
            name = "nerve"
        else:
            name = None
            for i, f in enumerate(spec.fascicles):
                rf = np.hypot(pts[:, 0] - f.x_um * MM, pts[:, 1] - f.y_um * MM)
                if np.all(np.abs(rf - f.diameter_um / 2 * MM) < tol):
                    name = f"peri_{i}"
            if name is None:
                raise RuntimeError(f"mesh face {fd + 1} matches no known surface")  # a geometry bug, not bad input
        ngmesh.SetBCName(fd, name)


def estimate_size(spec: FieldSpec) -> dict:
    """Elements, unknowns and peak memory (GB) a solve of ``spec`` is expected to need, before meshing.

    A model of netgen's size field on the cross-section (the geometry is a z-extrusion): the region size (nerve /
    far), at most 0.42 × the radius on each cylinder surface (netgen refines curved faces), growing by ``grading``
    per unit distance from each surface; elements = length × ∫ dA / (0.2026 h³). The two constants are fitted to
    ten netgen meshes (nerves 1.2–3.3 mm, h 150–400 µm, grading 0.3–0.5: all within 25 %). Contacts add little
    (measured: 1.5 % per contact) and are left out. Memory: 2.5 kB per unknown (measured 1.7–2.1 kB with
    CG + BDDC) plus 0.3 GB for the process.
    """
    m = spec.mesh
    big_r, r_nerve = spec.medium_radius_um * MM, spec.nerve_diameter_um / 2 * MM
    h_nerve, h_far = m.h_nerve_um * MM, m.h_far_um * MM
    axis = np.linspace(-big_r, big_r, 300)
    x, y = np.meshgrid(axis, axis)
    r = np.hypot(x, y)
    h = np.where(r < r_nerve, h_nerve, h_far)
    surfaces = [(0.0, 0.0, r_nerve, h_nerve), (0.0, 0.0, big_r, h_far)] + \
        [(f.x_um * MM, f.y_um * MM, f.diameter_um / 2 * MM, h_nerve) for f in spec.fascicles]
    for cx, cy, radius, h_region in surfaces:
        h = np.minimum(h, min(h_region, 0.42 * radius) + m.grading * np.abs(np.hypot(x - cx, y - cy) - radius))
    elements = spec.medium_length_um * MM * np.sum((axis[1] - axis[0]) ** 2 / (0.2026 * h[r < big_r] ** 3))
    p = m.order  # unknowns per tetrahedron: vertices ~1/5.6, edges ~7/6, faces 2, cells 1, times the dofs on each
    unknowns = elements * (1 / 5.6 + (p - 1) * 7 / 6 + (p - 1) * (p - 2) + (p - 1) * (p - 2) * (p - 3) / 6)
    return {"elements": int(elements), "unknowns": int(unknowns), "memory_GB": round(float(0.3 + 2.5e-6 * unknowns), 2)}


def check_size(spec: FieldSpec, max_memory_GB: float | None = None) -> dict:
    """`estimate_size`, refused with ParameterError (``mesh.h_nerve_um``) above ``max_memory_GB`` (default: the
    memory available now)."""
    import os

    est = estimate_size(spec)
    if max_memory_GB is None:
        max_memory_GB = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e9
    if est["memory_GB"] > max_memory_GB:
        raise ParameterError("mesh.h_nerve_um",
                             f"mesh.h_nerve_um={spec.mesh.h_nerve_um:g}: the mesh is estimated at {est['elements']:,} "
                             f"elements, {est['unknowns']:,} unknowns and {est['memory_GB']:g} GB, more than the "
                             f"{max_memory_GB:.1f} GB available; increase the mesh sizes or lower mesh.order")
    return est


def build_mesh(spec: FieldSpec):
    """Mesh ``spec`` (netgen, second-order curved geometry if ``spec.mesh.order`` >= 2); returns an ngsolve Mesh.

    Mesh size: ``h_far_um`` in the medium, ``h_nerve_um`` inside the nerve, ``h_contact_um`` around each
    contact, graded by netgen with ``grading``.
    """
    import ngsolve as ng
    from netgen.meshing import MeshingParameters
    from netgen.occ import Cylinder, Glue, OCCGeometry, Pnt, Z

    length = spec.medium_length_um * MM
    medium = Cylinder(Pnt(0, 0, 0), Z, r=spec.medium_radius_um * MM, h=length)
    nerve = Cylinder(Pnt(0, 0, 0), Z, r=spec.nerve_diameter_um / 2 * MM, h=length)
    fascicles = []
    for i, f in enumerate(spec.fascicles):
        c = Cylinder(Pnt(f.x_um * MM, f.y_um * MM, 0), Z, r=f.diameter_um / 2 * MM, h=length)
        c.mat(f"endo_{i}")
        c.maxh = spec.mesh.h_nerve_um * MM
        fascicles.append(c)
    epi = nerve - Glue(fascicles) if len(fascicles) > 1 else nerve - fascicles[0]
    epi.mat("epineurium")
    epi.maxh = spec.mesh.h_nerve_um * MM
    outside = medium - nerve
    outside.mat("medium")
    params = MeshingParameters(maxh=spec.mesh.h_far_um * MM, grading=spec.mesh.grading)
    for c in spec.contacts:
        params.RestrictH(x=c.x_um * MM, y=c.y_um * MM, z=c.z_um * MM, h=spec.mesh.h_contact_um * MM)
    ngmesh = OCCGeometry(Glue([outside, epi, *fascicles])).GenerateMesh(params)
    _classify_faces(ngmesh, spec)
    mesh = ng.Mesh(ngmesh)
    if spec.mesh.order >= 2:
        mesh.Curve(2)
    return mesh
