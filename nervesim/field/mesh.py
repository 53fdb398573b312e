"""Geometry and mesh of a `FieldSpec` with netgen's OCC kernel (lengths in mm inside the mesh).

The nerve and each fascicle are their cross-section outline (circle, ellipse or polygon) extruded along z over the
model length. Regions: ``medium`` (outside the nerve), ``epineurium`` (nerve minus fascicles), ``endo_<i>`` (fascicle
i), and
with a cuff ``fill`` (lumen between nerve and tube), ``insulator``, ``conductor``, ``recess`` (§3 functions).
Boundaries are named *after* meshing from where their faces lie, because names set on faces before the
boolean operations are unreliable on shared faces: ``ground`` (the medium's lateral surface and both end
planes, every region's end faces included, §1), ``peri_<i>`` (the lateral surface of fascicle i: the
perineurium thin layer, §2), ``nerve`` (the epineurium's outer surface) and ``interior`` (cuff faces); the last
two carry no condition (continuous potential).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from .shapes import Circle, Ellipse
from .spec import FUNCTIONS, FieldSpec, HelixCuff, UCuff, WireContact

MM = 1e-3  # µm -> mm
FASCICLE_H_PER_INRADIUS = 0.4  # fascicles are meshed at most this × their inradius (see build_mesh)
INSULATING = 1e-9  # an insulator at most this fraction of every other conductivity is meshed as a void
HELIX_GAP_ELEMENTS = 22.0  # tetrahedra per h_contact² of a helix's inner face (fitted to the Yoo mesh: 845 k elements)
# tetrahedra per h_contact² of each face of a tube cuff's thin gap (`_fine_gap`); fitted to four meshes (ribbon and
# wire contacts, nerves 0.5–1.6 mm, h_contact 50 µm: 73–143 k elements, 6.5–12.2 each): within 25 %
TUBE_GAP_ELEMENTS = 9.0


POLYGON_FACE_H = 2.3  # × mean edge: netgen's element size on a polygon's narrow flat faces (measured, 48-gon)
FACE_TOLERANCE = 1e-4  # × h_nerve_um: how far (µm) a face's vertices may lie from an outline and still be on it


def perfect_insulator(spec: FieldSpec) -> bool:
    """Whether the cuff insulator is meshed as a void: no region, its faces current-free (natural boundaries).

    True when its conductivity is at most ``INSULATING`` (10⁻⁹) times every other conductivity (ASCENT's silicone,
    10⁻¹² S/m, is 10⁻¹¹ of the weakest tissue): it would carry a fraction ~10⁻¹² of the current yet hold a fifth
    of a helical cuff model's elements.

    Parameters
    ----------
    spec : FieldSpec
        The model.

    Returns
    -------
    bool
        True for a negligible insulator conductivity.
    """
    weakest = min(min(spec.conductivity(f)) for f in FUNCTIONS if f != "insulator")
    return max(spec.conductivity("insulator")) <= INSULATING * weakest


def _classify_faces(ngmesh, spec: FieldSpec) -> None:
    """Name every face descriptor of ``ngmesh`` from the coordinates of its surface-element vertices: a face lies on
    an outline's lateral surface when every vertex is within ``FACE_TOLERANCE`` × h_nerve of the outline (netgen
    puts surface vertices on the OCC geometry, to ~1e-7 mm; outlines are at least a mesh cell apart in practice)."""
    xyz = ngmesh.Coordinates()
    elems = ngmesh.Elements2D().NumPy()
    tol = 1e-6 * max(spec.medium_radius_um, spec.medium_length_um) * MM
    tol_um = FACE_TOLERANCE * spec.mesh.h_nerve_um
    length = spec.medium_length_um * MM
    for fd in range(ngmesh.GetNFaceDescriptors()):
        nodes = elems["nodes"][elems["index"] == fd + 1]
        pts = xyz[nodes[nodes > 0].ravel() - 1]
        if pts.size == 0:
            continue
        x_um, y_um = pts[:, 0] / MM, pts[:, 1] / MM
        if np.all(np.abs(pts[:, 2]) < tol) or np.all(np.abs(pts[:, 2] - length) < tol) or \
                np.all(np.abs(np.hypot(pts[:, 0], pts[:, 1]) - spec.medium_radius_um * MM) < tol):
            name = "ground"
        elif np.all(np.abs(spec.nerve.signed_distance_um(x_um, y_um)) < tol_um):
            name = "nerve"
        else:
            name = None
            for i, f in enumerate(spec.fascicles):
                if np.all(np.abs(f.signed_distance_um(x_um, y_um)) < tol_um):
                    name = f"peri_{i}"
            if name is None:
                name = "interior"  # cuff and fill faces: continuous potential, no condition
        ngmesh.SetBCName(fd, name)


def element_quality(mesh) -> np.ndarray:
    """6√2 V / l_rms³ of every tetrahedron from its straight vertices: 1 for a regular one, → 0 for slivers and
    needles (CG + BDDC stalled on meshes whose worst was 0.01; the shipped models' worst are 0.1-0.3).

    Parameters
    ----------
    mesh : ngsolve.Mesh
        The mesh.

    Returns
    -------
    ndarray
        One value per volume element.
    """
    xyz = mesh.ngmesh.Coordinates()
    p = xyz[mesh.ngmesh.Elements3D().NumPy()["nodes"][:, :4] - 1]
    volume = np.abs(np.einsum("ij,ij->i", p[:, 1] - p[:, 0], np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]))) / 6
    edges = np.stack([p[:, a] - p[:, b] for a, b in ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))], axis=1)
    l_rms = np.sqrt(np.mean(np.sum(edges**2, axis=2), axis=1))
    return 6 * np.sqrt(2) * volume / l_rms**3


def _fascicle_h_um(fascicle, h_nerve_um: float) -> float:
    """Largest element (µm) in a fascicle: ``h_nerve_um``, or `FASCICLE_H_PER_INRADIUS` × its inradius if smaller
    (`build_mesh`'s rule, which `estimate_size` models)."""
    return min(h_nerve_um, FASCICLE_H_PER_INRADIUS * fascicle.inradius_um)


def estimate_size(spec: FieldSpec) -> dict:
    """Elements, unknowns and peak memory (GB) a solve of ``spec`` is expected to need, before meshing.

    A model of netgen's size field on the cross-section (the geometry is a z-extrusion): the region size (nerve /
    far; in a fascicle at most ``FASCICLE_H_PER_INRADIUS`` × its inradius), at most 0.42 × the radius on each
    cylinder surface (netgen refines curved faces), growing by ``grading`` per unit distance from each surface;
    elements = length × ∫ dA / (0.2026 h³). The two constants are fitted to ten netgen meshes (nerves 1.2–3.3 mm,
    h 150–400 µm, grading 0.3–0.5: all within 25 %). An ellipse counts as the circle of its area for the 0.42 ×
    radius; a polygon's flat faces are meshed at most 2.3 × its mean edge
    (netgen's elements on narrow faces; measured 152 µm on 65 µm faces); distances are to the true outline. Point
    contacts add little (measured: 1.5 % per contact) and are left out; a cuff adds its tube faces over its length,
    the faces of its thin saline gap meshed at ``h_contact_um`` (``TUBE_GAP_ELEMENTS``, ``HELIX_GAP_ELEMENTS``) and
    its metal (bands, wires, U-bands) meshed across its thickness. Memory: 2.5 kB per unknown (measured 1.7–2.1 kB
    with CG + BDDC) plus 0.3 GB for the process.

    Parameters
    ----------
    spec : FieldSpec
        The model.

    Returns
    -------
    dict
        ``elements``, ``unknowns``, ``memory_GB``.
    """
    m = spec.mesh
    big_r = spec.medium_radius_um * MM
    h_nerve, h_far = m.h_nerve_um * MM, m.h_far_um * MM

    axis = np.linspace(-big_r, big_r, 300)
    x, y = np.meshgrid(axis, axis)
    r = np.hypot(x, y)
    cell = (axis[1] - axis[0]) ** 2
    in_nerve = spec.nerve.signed_distance_um(x / MM, y / MM) > 0

    def surface(outline, h_region):  # (mesh size on the outline's surface, distance from it on the grid), mm
        if isinstance(outline, (Circle, Ellipse)):
            h_surface = min(h_region, 0.42 * outline.equivalent_diameter_um / 2 * MM)
        else:
            corners = np.asarray(outline.vertices_um)
            edge = np.mean(np.hypot(*(np.roll(corners, -1, axis=0) - corners).T)) * MM
            h_surface = min(h_region, POLYGON_FACE_H * edge)
        return h_surface, np.abs(outline.signed_distance_um(x / MM, y / MM)) * MM

    h_region = np.where(in_nerve, h_nerve, h_far)
    for f in spec.fascicles:  # `build_mesh`'s rule for small fascicles
        h_region = np.where(f.signed_distance_um(x / MM, y / MM) > 0,
                            np.minimum(h_region, _fascicle_h_um(f, m.h_nerve_um) * MM), h_region)

    def per_length(surfaces):  # elements per mm of length
        h = h_region
        for h_surface, distance in surfaces:
            h = np.minimum(h, h_surface + m.grading * distance)
        return np.sum(cell / (0.2026 * h[r < big_r] ** 3))

    def tube(*radii_um):
        return [surface(Circle(0.0, 0.0, 2 * radius), h_nerve) for radius in radii_um]

    surfaces = [surface(spec.nerve, h_nerve), surface(Circle(0.0, 0.0, 2 * spec.medium_radius_um), h_far)] + \
        [surface(f, _fascicle_h_um(f, m.h_nerve_um) * MM) for f in spec.fascicles]
    elements = spec.medium_length_um * MM * per_length(surfaces)
    c = spec.cuff
    if isinstance(c, HelixCuff):  # each fill cylinder as a tube, and the inner faces meshed at h_contact
        elements += len(c.centres_um) * c.fill_length_um * MM * (
            per_length(surfaces + tube(c.inner_radius_um, c.fill_radius_um)) - per_length(surfaces))
        inner_area = 2 * np.pi * c.inner_radius_um * c.turns * c.width_um * MM**2
        elements += len(c.centres_um) * HELIX_GAP_ELEMENTS * inner_area / (m.h_contact_um * MM) ** 2
    elif isinstance(c, UCuff):  # as a tube of its radii, and each U-band resolved across its thickness
        walls = tube(c.inner_radius_um, c.outer_radius_um)
        elements += c.length_um * MM * (per_length(surfaces + walls) - per_length(surfaces))
        r_band = c.inner_radius_um + c.recess_um + c.contact_thickness_um / 2
        volume = (np.pi * r_band + 2 * c.tangent_um) * c.contact_thickness_um * c.contact_width_um
        elements += len(c.contacts_um) * volume * MM**3 / (0.2026 * min(m.h_contact_um, c.contact_thickness_um)**3
                                                          * MM**3)
    elif c is not None:  # the tube's faces over its length, the gap's faces, each metal resolved across its thickness
        walls = tube(c.inner_radius_um, c.inner_radius_um + c.thickness_um)
        elements += c.length_um * MM * (per_length(surfaces + walls) - per_length(surfaces))
        gap_radii = c.inner_radius_um + (spec.nerve.diameter_um / 2 if isinstance(spec.nerve, Circle) else 0)
        elements += TUBE_GAP_ELEMENTS * 2 * np.pi * gap_radii * c.length_um / m.h_contact_um**2
        for e in c.contacts:
            if isinstance(e, WireContact):  # a torus sector, resolved across its diameter
                thickness = 2 * e.wire_radius_um
                volume = np.pi * e.wire_radius_um**2 * 2 * np.pi * e.centre_radius_um(c.inner_radius_um) * \
                    e.arc_deg / 360
            else:
                thickness = e.thickness_um
                volume = 2 * np.pi * (c.inner_radius_um + e.recess_um) * e.arc_deg / 360 * e.width_um * e.thickness_um
            h_metal = min(m.h_contact_um, thickness) * MM
            elements += volume * MM**3 / (0.2026 * h_metal**3)
    p = m.order  # unknowns per tetrahedron: vertices ~1/5.6, edges ~7/6, faces 2, cells 1, times the dofs on each
    unknowns = elements * (1 / 5.6 + (p - 1) * 7 / 6 + (p - 1) * (p - 2) + (p - 1) * (p - 2) * (p - 3) / 6)
    return {"elements": int(elements), "unknowns": int(unknowns), "memory_GB": round(float(0.3 + 2.5e-6 * unknowns), 2)}


def check_size(spec: FieldSpec, max_memory_GB: float | None = None) -> dict:
    """`estimate_size`, refused above a memory limit.

    Parameters
    ----------
    spec : FieldSpec
        The model.
    max_memory_GB : float, optional
        The limit; default the memory available now.

    Returns
    -------
    dict
        The estimate; ParameterError (``mesh.h_nerve_um``) with the estimate when above the limit.
    """
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


def _sector(r_um: float, z0_um: float, length_um: float, start_deg: float, arc_deg: float):
    """A solid cylinder of radius ``r_um`` over z0..z0+length, cut to the angles start..start+arc (OCC shape)."""
    from netgen.occ import Axis, Cylinder, Pnt, WorkPlane, Z

    cyl = Cylinder(Pnt(0, 0, z0_um * MM), Z, r=r_um * MM, h=length_um * MM)
    if arc_deg >= 360:
        return cyl
    n = max(2, int(np.ceil(arc_deg / 30)))
    reach = 2 * r_um * MM / np.cos(np.radians(arc_deg / n / 2))  # polygon edges stay outside the cylinder
    wp = WorkPlane().MoveTo(0, 0)
    for a in np.radians(np.linspace(0, arc_deg, n + 1)):
        wp.LineTo(reach * np.cos(a), reach * np.sin(a))
    wedge = wp.Close().Face().Extrude(length_um * MM).Move((0, 0, z0_um * MM))
    return (cyl * wedge).Rotate(Axis((0, 0, 0), Z), start_deg)


def _wire(c, e: WireContact):
    """Wire contact ``e`` of cuff ``c`` (§5.2): its circular cross-section in the meridian plane revolved about the
    nerve axis over its arc, from the cuff's angle + its start (OCC torus sector)."""
    from netgen.occ import Axes, Axis, WorkPlane, Z

    # the xz plane with local y along +z, so the circle's centre (r, 0) is at radius r and the contact's z
    wp = WorkPlane(Axes(p=(0, 0, (c.z_um + e.z_um) * MM), n=(0, -1, 0), h=(1, 0, 0)))
    section = wp.Circle(e.centre_radius_um(c.inner_radius_um) * MM, 0, e.wire_radius_um * MM).Face()
    return section.Revolve(Axis((0, 0, 0), Z), e.arc_deg).Rotate(Axis((0, 0, 0), Z), c.angle_deg + e.start_deg)


def _cuff_parts(spec: FieldSpec, nerve):
    """(fill, insulator, conductor, recess) solids of the cuff (None where absent) and the tube's outline. Ribbon
    metal is cut from the tube wall, wires (which lie in the lumen) from the fill."""
    from netgen.occ import Glue

    c = spec.cuff
    z0 = c.z_um - c.length_um / 2
    outer = _sector(c.inner_radius_um + c.thickness_um, z0, c.length_um, c.angle_deg, c.arc_deg)
    tube = outer - _sector(c.inner_radius_um, z0, c.length_um, c.angle_deg, 360)
    metal, recess = [], []
    for e in c.contacts:
        if isinstance(e, WireContact):
            metal.append(_wire(c, e))
            continue
        ez0 = c.z_um + e.z_um - e.width_um / 2
        r_metal = c.inner_radius_um + e.recess_um
        start = c.angle_deg + e.start_deg
        ring = _sector(r_metal + e.thickness_um, ez0, e.width_um, start, e.arc_deg) - \
            _sector(r_metal, ez0, e.width_um, start, 360)
        metal.append(ring)
        if e.recess_um > 0:
            recess.append(_sector(r_metal, ez0, e.width_um, start, e.arc_deg)
                          - _sector(c.inner_radius_um, ez0, e.width_um, start, 360))
    conductor = Glue(metal) if len(metal) > 1 else metal[0]
    recess_solid = (Glue(recess) if len(recess) > 1 else recess[0]) if recess else None
    insulator = tube - conductor - recess_solid if recess_solid is not None else tube - conductor
    fill = _fine_gap(_sector(c.inner_radius_um, z0, c.length_um, 0, 360) - nerve - conductor, spec)
    return fill, insulator, conductor, recess_solid, outer


def _helix_parts(spec: FieldSpec, nerve):
    """(fill, insulator, conductor, None, fill cylinders) of helical cuffs (§5.1). The ribbon is swept with an
    auxiliary spine (a helix of half the radius) so its rectangle stays radial × axial along the turns; the middle
    turns carry the platinum band as a notch of the silicone profile, so band and silicone share their faces."""
    from netgen.occ import Axes, Cylinder, Glue, Pipe, Pnt, SplineInterpolation, Wire, WorkPlane, Z

    c = spec.cuff
    r0, r1, rc = c.inner_radius_um, c.inner_radius_um + c.thickness_um, c.inner_radius_um + c.thickness_um / 2
    w, we, te = c.width_um, c.contact_width_um, c.contact_thickness_um
    s_a, s_b = c.contact_from * c.turns, c.contact_to * c.turns

    def angle_z(s, zc):  # angle (rad) and z (µm) of the centre line at turn s
        return math.radians(c.start_deg) + 2 * math.pi * s, zc - c.length_um / 2 + c.pitch_um * s

    def helix(s0, s1, radius, zc):  # 64 points per turn: the swept faces stay within 0.1 µm of their radius
        pts = []
        for s in np.linspace(s0, s1, max(4, int(np.ceil((s1 - s0) * 64)) + 1)):
            a, z = angle_z(s, zc)
            pts.append(Pnt(radius * MM * math.cos(a), radius * MM * math.sin(a), z * MM))
        return Wire([SplineInterpolation(pts)])

    def sweep(s0, s1, zc, outline):  # outline: (radius, axial offset) µm in the meridian plane at turn s0
        a, z = angle_z(s0, zc)
        wp = WorkPlane(Axes(p=(0, 0, z * MM), n=(-math.sin(a), math.cos(a), 0), h=(math.cos(a), math.sin(a), 0)))
        wp.MoveTo(outline[0][0] * MM, outline[0][1] * MM)
        for r, dz in outline[1:]:
            wp.LineTo(r * MM, dz * MM)
        return Pipe(helix(s0, s1, rc, zc), wp.Close().Face(), auxspine=helix(s0, s1, rc / 2, zc))

    ribbon = [(r0, -w / 2), (r1, -w / 2), (r1, w / 2), (r0, w / 2)]
    notched = ribbon + [(r0, we / 2), (r0 + te, we / 2), (r0 + te, -we / 2), (r0, -we / 2)]
    band = [(r0, -we / 2), (r0 + te, -we / 2), (r0 + te, we / 2), (r0, we / 2)]
    silicone, metal, cylinders = [], [], []
    for zc in c.centres_um:
        silicone += [sweep(0, s_a, zc, ribbon), sweep(s_a, s_b, zc, notched), sweep(s_b, c.turns, zc, ribbon)]
        metal.append(sweep(s_a, s_b, zc, band))
        cylinders.append(Cylinder(Pnt(0, 0, (zc - c.fill_length_um / 2) * MM), Z, r=c.fill_radius_um * MM,
                                  h=c.fill_length_um * MM))
    insulator, conductor = Glue(silicone), Glue(metal) if len(metal) > 1 else metal[0]
    for solid in (insulator, conductor):  # the faces facing the 10 µm saline gap: fine enough to resolve it
        _fine_faces(solid, [r0], spec.mesh.h_contact_um)
    outline = Glue(cylinders) if len(cylinders) > 1 else cylinders[0]
    fill = _fine_gap(outline - nerve - insulator - conductor, spec)
    return fill, insulator, conductor, None, outline


def _u_parts(spec: FieldSpec, nerve):
    """(fill, insulator, conductor, recess, fill cylinder) of a U-shaped cuff (§5.4, `UCuff`), built unrotated and
    turned by the cuff's angle."""
    from netgen.occ import Axis, Box, Cylinder, Glue, Pnt, Z

    c = spec.cuff

    def lumen(offset, z0, length):  # the lumen's outline grown by ``offset`` (µm), extruded over z0..z0+length
        r = c.inner_radius_um + offset
        solid = Cylinder(Pnt(0, 0, z0 * MM), Z, r=r * MM, h=length * MM)
        if c.tangent_um > 0:
            solid = solid + Box(Pnt(0, -r * MM, z0 * MM), Pnt(c.tangent_um * MM, r * MM, (z0 + length) * MM))
        return solid

    z0 = c.z_um - c.length_um / 2
    metal, recess = [], []
    for dz in c.contacts_um:
        ez0 = c.z_um + dz - c.contact_width_um / 2
        inner = lumen(c.recess_um, ez0, c.contact_width_um)
        metal.append(lumen(c.recess_um + c.contact_thickness_um, ez0, c.contact_width_um) - inner)
        if c.recess_um > 0:
            recess.append(inner - lumen(0, ez0, c.contact_width_um))
    conductor = Glue(metal) if len(metal) > 1 else metal[0]
    recess_solid = (Glue(recess) if len(recess) > 1 else recess[0]) if recess else None
    reach = c.outer_x_um + c.outer_radius_um  # the slit runs from the axis out through the wall
    slit = Box(Pnt(0, -c.slit_um / 2 * MM, z0 * MM), Pnt(reach * MM, c.slit_um / 2 * MM, (z0 + c.length_um) * MM))
    outer = Cylinder(Pnt(c.outer_x_um * MM, c.outer_y_um * MM, z0 * MM), Z, r=c.outer_radius_um * MM,
                     h=c.length_um * MM)
    insulator = outer - lumen(0, z0, c.length_um) - slit - conductor
    if recess_solid is not None:
        insulator = insulator - recess_solid
    fz0 = z0 - c.fill_thickness_um
    outline = Cylinder(Pnt(c.outer_x_um * MM, c.outer_y_um * MM, fz0 * MM), Z, r=c.fill_radius_um * MM,
                       h=(c.length_um + 2 * c.fill_thickness_um) * MM)

    def turn(solid):
        return None if solid is None else solid.Rotate(Axis((0, 0, 0), Z), c.angle_deg)

    insulator, conductor, recess_solid, outline = map(turn, (insulator, conductor, recess_solid, outline))
    fill = outline - nerve - insulator - conductor
    if recess_solid is not None:
        fill = fill - recess_solid
    return _fine_gap(fill, spec), insulator, conductor, recess_solid, outline


def _fine_gap(fill, spec: FieldSpec):
    """``fill`` with its faces on the nerve and on the cuff's inner radius meshed at ``h_contact_um``.

    The saline gap between nerve and cuff is thin (10 µm in ASCENT's presets); faces of different mesh sizes on its
    two sides leave slivers between them (measured on the Yoo model: element quality down to 2.5e-4, on which CG +
    BDDC made no progress), equal sizes give well-shaped, flat tetrahedra (quality ≥ 0.05)."""
    radii = [spec.cuff.inner_radius_um] + ([spec.nerve.diameter_um / 2] if isinstance(spec.nerve, Circle) else [])
    _fine_faces(fill, radii, spec.mesh.h_contact_um)
    return fill


def _fine_faces(solid, radii_um, h_um: float) -> None:
    """Mesh size ``h_um`` on every face of ``solid`` whose corners all lie on one of the cylinders ``radii_um``
    about the axis (within 1 µm)."""
    for face in solid.faces:
        r = [math.hypot(v.p.x, v.p.y) / MM for v in face.vertices]
        if any(all(abs(x - radius) < 1 for x in r) for radius in radii_um):
            face.maxh = h_um * MM


def _prism(outline, length_mm: float):
    """The outline (circle, ellipse or polygon, µm) extruded from z = 0 to ``length_mm`` (OCC solid, mm)."""
    from netgen.occ import Cylinder, Pnt, WorkPlane, Z

    if isinstance(outline, Circle):
        return Cylinder(Pnt(outline.x_um * MM, outline.y_um * MM, 0), Z, r=outline.diameter_um / 2 * MM, h=length_mm)
    if isinstance(outline, Ellipse):
        (a, b), angle = outline.axes_um, outline.angle_deg
        if a < b:  # OCC's ellipse needs major >= minor (the other order crashes the process)
            a, b, angle = b, a, angle + 90
        wp = WorkPlane().MoveTo(outline.x_um * MM, outline.y_um * MM)
        wp.Direction(math.cos(math.radians(angle)), math.sin(math.radians(angle)))
        return wp.Ellipse(a / 2 * MM, b / 2 * MM).Face().Extrude(length_mm)
    # clockwise corners would give a face whose extrusion is an inside-out solid (negative volume)
    (x0, y0), *rest = outline.vertices_um if outline.signed_area_um2 > 0 else outline.vertices_um[::-1]
    wp = WorkPlane().MoveTo(x0 * MM, y0 * MM)
    for x, y in rest:
        wp.LineTo(x * MM, y * MM)
    return wp.Close().Face().Extrude(length_mm)


def build_mesh(spec: FieldSpec):
    """Mesh ``spec`` (netgen, second-order curved geometry if ``spec.mesh.order`` >= 2); returns an ngsolve Mesh.

    Mesh size: ``h_far_um`` in the medium, ``h_nerve_um`` inside the nerve and cuff, ``h_contact_um`` around each
    source and in the contact metal, graded by netgen with ``grading``.

    Parameters
    ----------
    spec : FieldSpec
        The model.

    Returns
    -------
    ngsolve.Mesh
        Regions and boundaries named as in the module docstring; lengths in mm.
    """
    import ngsolve as ng
    from netgen.meshing import MeshingParameters
    from netgen.occ import Cylinder, Glue, OCCGeometry, Pnt, Z

    length = spec.medium_length_um * MM
    medium = Cylinder(Pnt(0, 0, 0), Z, r=spec.medium_radius_um * MM, h=length)
    nerve = _prism(spec.nerve, length)
    fascicles = []
    for i, f in enumerate(spec.fascicles):
        c = _prism(f, length)
        c.mat(f"endo_{i}")
        c.maxh = spec.mesh.h_nerve_um * MM
        fascicles.append(c)
    epi = nerve - Glue(fascicles) if len(fascicles) > 1 else nerve - fascicles[0]
    epi.mat("epineurium")
    epi.maxh = spec.mesh.h_nerve_um * MM
    outside = medium - nerve
    parts = [epi, *fascicles]
    if spec.cuff is not None:
        parts_of = _helix_parts if isinstance(spec.cuff, HelixCuff) else \
            _u_parts if isinstance(spec.cuff, UCuff) else _cuff_parts
        fill, insulator, conductor, recess, outline = parts_of(spec, nerve)
        if perfect_insulator(spec):  # a void: its faces are current-free (natural) boundaries
            insulator = None
        for solid, name in ((fill, "fill"), (insulator, "insulator"), (conductor, "conductor"), (recess, "recess")):
            if solid is not None:
                solid.mat(name)
                solid.maxh = spec.mesh.h_contact_um * MM if name in ("conductor", "recess") else \
                    spec.mesh.h_nerve_um * MM
                parts.append(solid)
        outside = outside - outline - fill
    outside.mat("medium")
    params = MeshingParameters(maxh=spec.mesh.h_far_um * MM, grading=spec.mesh.grading)
    for x, y, z in spec.sources_um():
        params.RestrictH(x=x * MM, y=y * MM, z=z * MM, h=spec.mesh.h_contact_um * MM)
    shape = Glue([outside, *parts])
    # small fascicles at h_nerve: netgen filled long thin ones (250 and 570 µm wide, 30 mm long, the synthetic vagus)
    # with tetrahedra spanning their diameter (quality 0.01) and CG stalled; at 0.4 × inradius the worst is 0.27
    # there (0.5 changed nothing: netgen's curvature rule already meshes that finely) for 17 % more elements
    for solid in shape.solids:
        if solid.name.startswith("endo_"):
            h = _fascicle_h_um(spec.fascicles[int(solid.name[5:])], spec.mesh.h_nerve_um)
            if h < spec.mesh.h_nerve_um:
                solid.maxh = h * MM
    with ng.TaskManager():  # every core: the Yoo mesh in 88 s instead of 152 s on two
        ngmesh = OCCGeometry(shape).GenerateMesh(params)
        _classify_faces(ngmesh, spec)
        mesh = ng.Mesh(ngmesh)
        if spec.mesh.order >= 2:
            mesh.Curve(2)
    return mesh
