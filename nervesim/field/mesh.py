"""Geometry and mesh of a `FieldSpec` with netgen's OCC kernel (lengths in mm inside the mesh).

Regions: ``medium`` (outside the nerve), ``epineurium`` (nerve minus fascicles), ``endo_<i>`` (fascicle i).
Boundaries are named *after* meshing from where their faces lie, because names set on faces before the
boolean operations are unreliable on shared faces: ``ground`` (the medium's lateral surface and both end
planes, every region's end faces included, §1), ``peri_<i>`` (the lateral surface of fascicle i: the
perineurium thin layer, §2), ``nerve`` (the epineurium's outer surface; interior, continuous).
"""
from __future__ import annotations

import numpy as np

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
