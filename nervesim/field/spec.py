"""The volume-conductor model as data: a TOML file or the same dataclasses in Python, checked up front.

Coordinates (µm): (x, y) = (0, 0) is the nerve centre, z runs along the nerve from 0 to the medium
length (volume-conductor.md §4). Conductivities S/m, scalar or diag(σx, σy, σz) in global axes (§1, §3).

TOML keys (all lengths in µm)::

    [nerve]        diameter_um                       (circle centred on the axis, (0, 0))
                   or shape = "ellipse", axes_um = [a, b] (full axes), angle_deg = 0 (direction of the first
                   axis, counter-clockwise from +x), x_um = 0, y_um = 0 (centre)
                   or shape = "polygon", vertices_um = [[x, y], ...] (corners in order, each once)
    [[fascicle]]   x_um, y_um, diameter_um           (endoneurium circle; one table per fascicle)
                   or shape = "ellipse", x_um, y_um, axes_um = [a, b], angle_deg = 0
                   or shape = "polygon", vertices_um = [[x, y], ...]   (the endoneurium boundary)
                   Fascicles may not touch each other or the nerve boundary (any common point is refused).
    [perineurium]  thickness = rule name (§2; d = area-equivalent endoneurium diameter) or µm (0: no layer);
                   resistivity_ohm_m = 1149
    [materials]    medium / epineurium / endoneurium / fill / insulator / conductor / recess =
                   material name (models/field/materials.toml), a scalar or [σx, σy, σz]
    [medium]       material (= materials.medium), radius_um, length_um
    [[contact]]    x_um, y_um, z_um                   (point contact carrying 1 mA in its basis solve)
    [cuff]         inner_radius_um, thickness_um, length_um, z_um (centre), angle_deg = 0, arc_deg = 360
                   (a silicone tube, ASCENT's TubeCuff; the lumen between nerve and tube is ``fill``)
    [[cuff.contact]] z_um (from the cuff centre), width_um, arc_deg = 360, thickness_um = 25, recess_um = 0,
                   start_deg = 0 (ribbon/ring contact on the tube's inner face, from the cuff's angle_deg,
                   counter-clockwise; source inside the metal at mid-angle, mid-thickness, §1)
                   or shape = "wire", z_um, wire_radius_um, arc_deg = 360, wall_gap_um = 0, start_deg = 0 (a
                   platinum wire of circular cross-section bent into an arc in the lumen, wall_gap_um inside the
                   tube's inner face; source on its centre line at mid-angle, §1, §5.2)
    or [cuff] preset = name in models/field/cuffs.toml, angle_deg = 0, z_um = mid-length (§5; tube presets
                   (CorTec300, Purdue) resolve to the keys above, helical ones (LivaNova2000,
                   LivaNova2000_v2) to kind = "helix" and the fields of HelixCuff, U-shaped ones
                   (MicroLeads300) to kind = "u" and the fields of UCuff)
    [mesh]         order = 2, h_far_um = 1600, h_nerve_um = 200, h_contact_um = 50, grading = 0.3

Basis (contact) order: the point contacts, then the cuff contacts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from .shapes import Circle, Ellipse, Polygon, _number, disjoint, inside

Fascicle = Circle  # a circular fascicle: its name before ellipses and polygons existed
FUNCTIONS = ("medium", "fill", "insulator", "conductor", "recess", "endoneurium", "epineurium")
SPEC_FORMAT = 2  # bump when the meaning of a key or the meshing changes, so cached fields keyed by the hash are not
# reused (2: numbers hashed as floats; small fascicles meshed finer, mesh.FASCICLE_H_PER_INRADIUS)


def _read(name: str) -> dict:
    return tomllib.loads(resources.files("nervesim.models").joinpath("field", name).read_text())


def material_table() -> dict[str, float | list[float]]:
    """ASCENT's materials (§3).

    Returns
    -------
    dict
        Name -> conductivity (S/m, scalar or [σx, σy, σz]).
    """
    return _read("materials.toml")["conductivity_S_m"]


def thickness_rules() -> dict[str, tuple[float, float]]:
    """ASCENT's perineurium thickness rules (§2).

    Returns
    -------
    dict
        Name -> (a, b) of thickness_um = a·d + b, d the endoneurium diameter (µm).
    """
    return {k: (v["a"], v["b"]) for k, v in _read("perineurium.toml")["rules"].items()}


def _conductivity(key: str, value: Any) -> tuple[float, float, float]:
    """A material name, a scalar or [σx, σy, σz] -> (σx, σy, σz) S/m."""
    if isinstance(value, str):
        table = material_table()
        if value not in table:
            raise ParameterError(key, f"{key}={value!r}: unknown material; known: {', '.join(sorted(table))}")
        value = table[value]
    if isinstance(value, (list, tuple)):
        if len(value) != 3:
            raise ParameterError(key, f"{key}={value!r}: give a scalar or three values [sx, sy, sz] in S/m")
        return tuple(_number(f"{key}[{i}]", v) for i, v in enumerate(value))
    s = _number(key, value)
    return (s, s, s)


def _known_keys(table: str, data: dict, allowed: tuple[str, ...]) -> None:
    for k in data:
        if k not in allowed:
            raise ParameterError(f"{table}.{k}", f"{table}.{k}: unknown key; allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class Contact:
    """A point contact; its basis solve injects 1 mA there (§1).

    Attributes
    ----------
    x_um, y_um, z_um : float
        Position (µm).
    """

    x_um: float
    y_um: float
    z_um: float


@dataclass(frozen=True)
class CuffContact:
    """A ribbon (``arc_deg`` < 360) or ring contact on the cuff's inner face.

    Attributes
    ----------
    z_um : float
        Centre, from the cuff centre (µm).
    width_um : float
        Axial width (µm).
    arc_deg : float
        Angular extent (degrees).
    thickness_um : float
        Radial metal thickness (µm).
    recess_um : float
        Radial set-back from the lumen, filled with the ``recess`` material (µm).
    start_deg : float
        Start angle from the cuff's ``angle_deg`` (degrees, counter-clockwise).
    """

    z_um: float
    width_um: float
    arc_deg: float = 360.0
    thickness_um: float = 25.0
    recess_um: float = 0.0
    start_deg: float = 0.0


@dataclass(frozen=True)
class WireContact:
    """A platinum wire on an arc in the cuff's lumen (ASCENT's WireContact, §5.2): a circle of radius
    ``wire_radius_um`` in the meridian plane, centred ``wall_gap_um + wire_radius_um`` inside the tube's inner face,
    revolved about the nerve axis over ``arc_deg`` (a torus sector). It lies in the fill, not in the silicone.

    Attributes
    ----------
    z_um : float
        Centre, from the cuff centre (µm).
    wire_radius_um : float
        Radius of the wire's cross-section (µm).
    arc_deg : float
        Angular extent (degrees).
    wall_gap_um : float
        Radial gap between the wire and the tube's inner face (µm; ASCENT's sep_wire).
    start_deg : float
        Start angle from the cuff's ``angle_deg`` (degrees, counter-clockwise).
    """

    z_um: float
    wire_radius_um: float
    arc_deg: float = 360.0
    wall_gap_um: float = 0.0
    start_deg: float = 0.0

    def centre_radius_um(self, inner_radius_um: float) -> float:
        """Radius of the wire's centre line in a tube of lumen radius ``inner_radius_um`` (µm).

        Parameters
        ----------
        inner_radius_um : float
            The tube's inner radius (µm).

        Returns
        -------
        float
            inner_radius_um − wall_gap_um − wire_radius_um.
        """
        return inner_radius_um - self.wall_gap_um - self.wire_radius_um


@dataclass(frozen=True)
class Cuff:
    """A silicone tube (ASCENT's TubeCuff) centred on the nerve axis.

    Attributes
    ----------
    inner_radius_um, thickness_um : float
        Lumen radius and wall thickness (µm); the lumen around the nerve is ``fill``.
    length_um, z_um : float
        Length and centre along the nerve (µm).
    contacts : tuple of CuffContact or WireContact
        Its contacts (one basis each).
    angle_deg, arc_deg : float
        Start angle (counter-clockwise from +x) and extent of the tube (degrees).
    """

    inner_radius_um: float
    thickness_um: float
    length_um: float
    z_um: float
    contacts: tuple[CuffContact | WireContact, ...]
    angle_deg: float = 0.0
    arc_deg: float = 360.0

    def source_um(self, k: int) -> tuple[float, float, float]:
        """Where contact ``k``'s current enters (§1).

        Parameters
        ----------
        k : int
            Contact index.

        Returns
        -------
        tuple of float
            (x, y, z) µm: mid-angle, mid-thickness of the metal (a wire: its centre line), at its centre z.
        """
        c = self.contacts[k]
        r = c.centre_radius_um(self.inner_radius_um) if isinstance(c, WireContact) else \
            self.inner_radius_um + c.recess_um + c.thickness_um / 2
        a = math.radians(self.angle_deg + c.start_deg + c.arc_deg / 2)
        return (r * math.cos(a), r * math.sin(a), self.z_um + c.z_um)


@dataclass(frozen=True)
class HelixCuff:
    """Helical cuffs, one per contact (ASCENT's HelicalCuffnContact, §5.1): a silicone ribbon swept along a helix
    around the nerve, a platinum band on its inner face over part of the turns, inside a saline fill cylinder.

    Attributes
    ----------
    inner_radius_um, thickness_um, width_um : float
        Radius of the ribbon's inner face, its radial thickness and its axial width (µm).
    pitch_um, turns : float
        Advance per turn (µm) and number of turns; the helix is right-handed, centred on each centre.
    centres_um : tuple of float
        z of each helix's centre (µm), one contact each, in basis order.
    start_deg : float
        Angle (counter-clockwise from +x) where each helix starts.
    contact_width_um, contact_thickness_um : float
        Platinum band: axial width (centred on the ribbon) and radial thickness from the inner face (µm).
    contact_from, contact_to : float
        The band covers this fraction of the turns (ASCENT: 0.3 to 0.7).
    fill_radius_um, fill_length_um : float
        The saline fill cylinder around each helix (µm).
    """

    inner_radius_um: float
    thickness_um: float
    width_um: float
    pitch_um: float
    turns: float
    centres_um: tuple[float, ...]
    start_deg: float
    contact_width_um: float
    contact_thickness_um: float
    contact_from: float
    contact_to: float
    fill_radius_um: float
    fill_length_um: float

    @property
    def contacts(self) -> tuple[float, ...]:
        """One contact per helix (their centres, µm)."""
        return self.centres_um

    @property
    def angle_deg(self) -> float:
        """Start angle (degrees), as ``angle_deg`` of `Cuff`."""
        return self.start_deg

    @property
    def arc_deg(self) -> float:
        """The helix covers every angle (360), as ``arc_deg`` of `Cuff`."""
        return 360.0

    @property
    def length_um(self) -> float:
        """Axial length of one helix's centre line (µm)."""
        return self.turns * self.pitch_um

    def source_um(self, k: int) -> tuple[float, float, float]:
        """Where contact ``k``'s current enters (§1, §5.1): mid-turn of the helix, mid-thickness of the band.

        Parameters
        ----------
        k : int
            Contact index.

        Returns
        -------
        tuple of float
            (x, y, z) µm.
        """
        r = self.inner_radius_um + self.contact_thickness_um / 2
        a = math.radians(self.start_deg + 360.0 * self.turns / 2)
        return (r * math.cos(a), r * math.sin(a), self.centres_um[k])


@dataclass(frozen=True)
class UCuff:
    """A U-shaped cuff (ASCENT's uCuff + uContact, §5.4), before rotation: the lumen is the circle of
    ``inner_radius_um`` about the nerve axis united with the channel ``0 <= x <= tangent_um``,
    ``abs(y) <= inner_radius_um``; the silicone is the circle of ``outer_radius_um`` about (``outer_x_um``,
    ``outer_y_um``) minus the lumen and a slit of width ``slit_um`` along y = 0 toward +x; each platinum U-band
    lines the lumen ``recess_um`` behind its surface (the recess is ``recess``), open at x = ``tangent_um``. A fill
    cylinder about the outer centre holds it all. The whole part is turned by ``angle_deg`` about the axis.

    Attributes
    ----------
    inner_radius_um, outer_radius_um, tangent_um, slit_um : float
        Lumen radius, outer radius, channel length and slit width (µm).
    outer_x_um, outer_y_um : float
        Centre of the outer circle (and of the fill) before rotation (µm).
    length_um, z_um : float
        Length and centre along the nerve (µm).
    contacts_um : tuple of float
        Centre of each contact from the cuff centre (µm), one basis each.
    contact_width_um, contact_thickness_um, recess_um : float
        Axial width, thickness and depth behind the lumen's surface of each U-band (µm).
    fill_thickness_um : float
        The fill cylinder reaches this far beyond the outer circle and each end (µm).
    angle_deg : float
        Rotation about the nerve axis (degrees; the contacts' bottom at 180° + angle_deg).
    """

    inner_radius_um: float
    outer_radius_um: float
    tangent_um: float
    slit_um: float
    outer_x_um: float
    outer_y_um: float
    length_um: float
    z_um: float
    contacts_um: tuple[float, ...]
    contact_width_um: float
    contact_thickness_um: float
    recess_um: float
    fill_thickness_um: float
    angle_deg: float = 0.0

    @property
    def contacts(self) -> tuple[float, ...]:
        """One contact per entry of ``contacts_um``."""
        return self.contacts_um

    @property
    def arc_deg(self) -> float:
        """360: the cuff surrounds the nerve, as ``arc_deg`` of `Cuff`."""
        return 360.0

    @property
    def thickness_um(self) -> float:
        """Outer minus inner radius (µm), as ``thickness_um`` of `Cuff` (the U's outline is not a tube)."""
        return self.outer_radius_um - self.inner_radius_um

    @property
    def fill_radius_um(self) -> float:
        """Radius of the fill cylinder about the outer centre (µm)."""
        return self.outer_radius_um + self.fill_thickness_um

    def source_um(self, k: int) -> tuple[float, float, float]:
        """Where contact ``k``'s current enters (§1, §5.4): the bottom of the U, mid-thickness of the metal.

        Parameters
        ----------
        k : int
            Contact index.

        Returns
        -------
        tuple of float
            (x, y, z) µm.
        """
        r = self.inner_radius_um + self.recess_um + self.contact_thickness_um / 2
        a = math.radians(self.angle_deg + 180.0)
        return (r * math.cos(a), r * math.sin(a), self.z_um + self.contacts_um[k])


@dataclass(frozen=True)
class MeshSettings:
    """Discretisation of a model.

    Attributes
    ----------
    order : int
        Lagrange order of the potential (2 recommended; 1 needs far finer meshes).
    h_far_um, h_nerve_um, h_contact_um : float
        Mesh size (µm) in the medium, inside the nerve and cuff, and at each source / contact metal.
    grading : float
        Netgen's grading (0 to 1): how fast the element size may grow.
    """

    order: int = 2
    h_far_um: float = 1600.0
    h_nerve_um: float = 200.0
    h_contact_um: float = 50.0
    grading: float = 0.3


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    """A volume-conductor model (see the module docstring for the TOML form); keyword arguments only.

    Attributes
    ----------
    nerve_diameter_um : float or None
        Epineurium (nerve) circle diameter (µm), centred at (0, 0); or None with ``nerve_shape``.
    nerve_shape : Ellipse, Polygon or None
        A non-circular nerve outline (µm), instead of ``nerve_diameter_um``.
    fascicles : tuple of Circle (Fascicle), Ellipse or Polygon
        Endoneurium outlines, apart from each other and inside the nerve; each carries the perineurium thin layer
        on its boundary (§2).
    contacts : tuple of Contact
        Point contacts, one basis solve each (§1).
    medium_radius_um, medium_length_um : float
        The grounded medium cylinder (µm), z from 0 to its length (§1, §4).
    perineurium_thickness : str or float
        Rule name of §2 or thickness in µm (0: no thin layer, φ continuous).
    perineurium_resistivity_ohm_m : float
        Bulk resistivity of the perineurium (ASCENT: 1149 Ω·m).
    materials : dict
        Overrides by function (keys of ``FUNCTIONS``): material name, scalar or [σx, σy, σz] S/m.
    mesh : MeshSettings
        Element order and mesh sizes.
    cuff : Cuff, HelixCuff, UCuff or None
        Silicone tube with ring/ribbon or wire contacts, helical cuffs, or a U-shaped cuff (one basis per contact,
        after the point contacts).
    """

    fascicles: tuple[Circle | Ellipse | Polygon, ...]
    contacts: tuple[Contact, ...]
    medium_radius_um: float
    medium_length_um: float
    nerve_diameter_um: float | None = None
    nerve_shape: Ellipse | Polygon | None = None
    perineurium_thickness: str | float = "PIG_VN_INHOUSE_200523"
    perineurium_resistivity_ohm_m: float = 1149.0
    materials: dict[str, Any] = field(default_factory=dict)
    mesh: MeshSettings = MeshSettings()
    cuff: Cuff | HelixCuff | UCuff | None = None

    def __post_init__(self) -> None:
        if (self.nerve_diameter_um is None) == (self.nerve_shape is None):
            raise ParameterError("nerve", "nerve: give either nerve_diameter_um (a circle) or nerve_shape (an Ellipse "
                                          "or Polygon), not both or neither")
        if self.nerve_diameter_um is not None:
            _number("nerve.diameter_um", self.nerve_diameter_um)
        elif not isinstance(self.nerve_shape, (Ellipse, Polygon)):
            raise ParameterError("nerve.shape", f"nerve.shape={self.nerve_shape!r}: give an Ellipse or Polygon (a "
                                                "circular nerve is nerve_diameter_um)")
        else:
            self.nerve_shape.check("nerve")
        nerve = self.nerve
        r_nerve = nerve.reach_um()
        if not self.fascicles:
            raise ParameterError("fascicle", "fascicle: the nerve needs at least one [[fascicle]]")
        for i, f in enumerate(self.fascicles):
            key = f"fascicle[{i}]"
            if not isinstance(f, (Circle, Ellipse, Polygon)):
                raise ParameterError(key, f"{key}={f!r}: give a Circle (Fascicle), Ellipse or Polygon")
            f.check(key)
            if not inside(f, nerve):
                raise ParameterError(key, f"{key} ({_describe(f)}) is not wholly inside the nerve: it crosses or "
                                          "touches the nerve boundary; move or shrink it")
            for j, g in enumerate(self.fascicles[:i]):
                if not disjoint(f, g):
                    raise ParameterError(key, f"{key} ({_describe(f)}) overlaps or touches fascicle[{j}]; move them "
                                              "apart or shrink them")
        t = self.perineurium_thickness
        if isinstance(t, str):
            if t not in thickness_rules():
                raise ParameterError("perineurium.thickness",
                                     f"perineurium.thickness={t!r}: unknown rule; give a number in um or one of "
                                     f"{', '.join(thickness_rules())}")
        else:
            _number("perineurium.thickness", t, allow_zero=True)
        _number("perineurium.resistivity_ohm_m", self.perineurium_resistivity_ohm_m)
        for k, v in self.materials.items():
            if k not in FUNCTIONS:
                raise ParameterError(f"materials.{k}", f"materials.{k}: unknown function; allowed: "
                                                       f"{', '.join(FUNCTIONS)}")
            _conductivity(f"materials.{k}", v)
        _number("medium.radius_um", self.medium_radius_um)
        _number("medium.length_um", self.medium_length_um)
        if self.medium_radius_um <= r_nerve:
            raise ParameterError("medium.radius_um", f"medium.radius_um={self.medium_radius_um:g}: must exceed the "
                                                     f"nerve's reach from the axis, {r_nerve:g} um")
        if not self.contacts and (self.cuff is None or not self.cuff.contacts):
            raise ParameterError("contact", "contact: give at least one [[contact]] (x_um, y_um, z_um) or "
                                            "[[cuff.contact]]")
        if self.cuff is not None:
            self._check_cuff(r_nerve)
        for i, c in enumerate(self.contacts):
            key = f"contact[{i}]"
            for name in ("x_um", "y_um", "z_um"):
                _number(f"{key}.{name}", getattr(c, name), positive=False)
            if math.hypot(c.x_um, c.y_um) >= self.medium_radius_um or not 0 < c.z_um < self.medium_length_um:
                raise ParameterError(key, f"{key} at ({c.x_um:g}, {c.y_um:g}, {c.z_um:g}) um lies outside the medium "
                                          f"cylinder (radius {self.medium_radius_um:g}, z in (0, "
                                          f"{self.medium_length_um:g})) um")
        m = self.mesh
        if m.order not in (1, 2, 3, 4) or isinstance(m.order, bool):
            raise ParameterError("mesh.order", f"mesh.order={m.order!r}: must be 1, 2, 3 or 4 (2 recommended)")
        for name in ("h_far_um", "h_nerve_um", "h_contact_um", "grading"):
            _number(f"mesh.{name}", getattr(m, name))
        if m.grading >= 1:
            raise ParameterError("mesh.grading", f"mesh.grading={m.grading:g}: must be in (0, 1)")

    def _check_cuff(self, r_nerve: float) -> None:
        c = self.cuff
        if isinstance(c, HelixCuff):
            return self._check_helix(r_nerve)
        if isinstance(c, UCuff):
            return self._check_u(r_nerve)
        for name in ("inner_radius_um", "thickness_um", "length_um", "z_um"):
            _number(f"cuff.{name}", getattr(c, name))
        _number("cuff.angle_deg", c.angle_deg, positive=False)
        if not 0 < _number("cuff.arc_deg", c.arc_deg) <= 360:
            raise ParameterError("cuff.arc_deg", f"cuff.arc_deg={c.arc_deg:g}: must be in (0, 360]")
        if c.inner_radius_um <= r_nerve:
            raise ParameterError("cuff.inner_radius_um",
                                 f"cuff.inner_radius_um={c.inner_radius_um:g}: the cuff must be wider than the nerve "
                                 f"(reaching {r_nerve:g} um from the axis); this cuff does not expand")
        if c.inner_radius_um + c.thickness_um >= self.medium_radius_um or c.z_um - c.length_um / 2 <= 0 or \
                c.z_um + c.length_um / 2 >= self.medium_length_um:
            raise ParameterError("cuff", "cuff: the tube must lie inside the medium cylinder (radius "
                                         f"{self.medium_radius_um:g} um, z in (0, {self.medium_length_um:g}) um)")
        if not c.contacts:
            raise ParameterError("cuff.contact", "cuff.contact: a cuff needs at least one [[cuff.contact]]")
        def half_width(e):  # axial half-extent of a contact (µm)
            return e.wire_radius_um if isinstance(e, WireContact) else e.width_um / 2

        for k, e in enumerate(c.contacts):
            key = f"cuff.contact[{k}]"
            if not isinstance(e, (CuffContact, WireContact)):
                raise ParameterError(key, f"{key}={e!r}: give a CuffContact or a WireContact")
            _number(f"{key}.z_um", e.z_um, positive=False)
            if isinstance(e, WireContact):
                _number(f"{key}.wire_radius_um", e.wire_radius_um)
                _number(f"{key}.wall_gap_um", e.wall_gap_um, allow_zero=True)
                if e.centre_radius_um(c.inner_radius_um) - e.wire_radius_um <= r_nerve:
                    raise ParameterError(key, f"{key}: the wire (radius {e.wire_radius_um:g} um, {e.wall_gap_um:g} "
                                              f"um inside the tube) reaches the nerve ({r_nerve:g} um from the "
                                              "axis); widen the cuff or thin the wire")
            else:
                for name in ("width_um", "thickness_um"):
                    _number(f"{key}.{name}", getattr(e, name))
                _number(f"{key}.recess_um", e.recess_um, allow_zero=True)
                if e.recess_um + e.thickness_um >= c.thickness_um:
                    raise ParameterError(key, f"{key}: recess + thickness ({e.recess_um + e.thickness_um:g} um) must "
                                              f"be less than the cuff wall ({c.thickness_um:g} um)")
            if not 0 < _number(f"{key}.arc_deg", e.arc_deg) <= c.arc_deg - _number(f"{key}.start_deg", e.start_deg,
                                                                                  allow_zero=True):
                raise ParameterError(f"{key}.arc_deg", f"{key}.arc_deg={e.arc_deg:g}: start_deg + arc_deg must lie "
                                                       f"in (0, cuff.arc_deg = {c.arc_deg:g}]")
            if abs(e.z_um) + half_width(e) >= c.length_um / 2:
                raise ParameterError(key, f"{key}: z_um={e.z_um:g}, width {2 * half_width(e):g} um reaches beyond "
                                          f"the cuff (length {c.length_um:g} um)")
            for j, o in enumerate(c.contacts[:k]):
                if abs(e.z_um - o.z_um) < half_width(e) + half_width(o):
                    raise ParameterError(key, f"{key} overlaps cuff.contact[{j}] along z; move them apart")

    def _check_helix(self, r_nerve: float) -> None:
        c = self.cuff
        for f in dataclasses.fields(c):
            if f.name not in ("centres_um", "start_deg", "contact_from", "contact_to"):
                _number(f"cuff.{f.name}", getattr(c, f.name))
        _number("cuff.start_deg", c.start_deg, positive=False)
        if not 0 <= c.contact_from < c.contact_to <= 1:
            raise ParameterError("cuff.contact_from", f"cuff.contact_from={c.contact_from:g}, contact_to="
                                                      f"{c.contact_to:g}: need 0 <= from < to <= 1")
        if c.inner_radius_um <= r_nerve:
            raise ParameterError("cuff.inner_radius_um",
                                 f"cuff.inner_radius_um={c.inner_radius_um:g}: the helix must be wider than the "
                                 f"nerve (reaching {r_nerve:g} um from the axis)")
        if c.contact_thickness_um >= c.thickness_um or c.contact_width_um >= c.width_um or \
                c.width_um >= c.pitch_um or c.fill_radius_um <= c.inner_radius_um + c.thickness_um:
            raise ParameterError("cuff", "cuff: need contact thickness < ribbon thickness, contact width < ribbon "
                                         "width < pitch, and the fill outside the ribbon")
        if not c.centres_um:
            raise ParameterError("cuff.centres_um", "cuff.centres_um: give one helix centre per contact")
        for k, zc in enumerate(c.centres_um):
            _number(f"cuff.centres_um[{k}]", zc)
            if c.fill_radius_um >= self.medium_radius_um or zc - c.fill_length_um / 2 <= 0 or \
                    zc + c.fill_length_um / 2 >= self.medium_length_um:
                raise ParameterError("cuff", f"cuff: helix {k} and its fill must lie inside the medium cylinder "
                                             f"(radius {self.medium_radius_um:g} um, z in (0, "
                                             f"{self.medium_length_um:g}) um)")
            if k and abs(zc - c.centres_um[k - 1]) < c.fill_length_um:
                raise ParameterError(f"cuff.centres_um[{k}]", f"cuff.centres_um[{k}]: the fills of helices {k - 1} "
                                                              f"and {k} overlap; move them apart")

    def _check_u(self, r_nerve: float) -> None:
        c = self.cuff
        for f in dataclasses.fields(c):
            if f.name in ("tangent_um", "recess_um"):
                _number(f"cuff.{f.name}", getattr(c, f.name), allow_zero=True)
            elif f.name in ("outer_x_um", "outer_y_um", "angle_deg"):
                _number(f"cuff.{f.name}", getattr(c, f.name), positive=False)
            elif f.name != "contacts_um":
                _number(f"cuff.{f.name}", getattr(c, f.name))
        if c.inner_radius_um <= r_nerve:
            raise ParameterError("cuff.inner_radius_um",
                                 f"cuff.inner_radius_um={c.inner_radius_um:g}: the U's lumen must be wider than the "
                                 f"nerve (reaching {r_nerve:g} um from the axis)")
        band = c.inner_radius_um + c.recess_um + c.contact_thickness_um  # the metal's outer offset of the lumen
        reach = max(band + c.outer_x_um, *(math.hypot(c.tangent_um - c.outer_x_um, band + s * c.outer_y_um)
                                           for s in (-1, 1)))
        if reach >= c.outer_radius_um or c.slit_um >= 2 * c.inner_radius_um:
            raise ParameterError("cuff", "cuff: the U-bands (lumen + recess + thickness) must lie inside the outer "
                                         "circle, and the slit must be narrower than the lumen")
        if not c.contacts_um:
            raise ParameterError("cuff.contacts_um", "cuff.contacts_um: give one z per contact")
        half = c.length_um / 2
        for k, z in enumerate(c.contacts_um):
            _number(f"cuff.contacts_um[{k}]", z, positive=False)
            if abs(z) + c.contact_width_um / 2 >= half or \
                    (k and abs(z - c.contacts_um[k - 1]) < c.contact_width_um):
                raise ParameterError(f"cuff.contacts_um[{k}]", f"cuff.contacts_um[{k}]={z:g}: contact {k} reaches "
                                                               "beyond the cuff or overlaps the one before")
        fill_reach = math.hypot(c.outer_x_um, c.outer_y_um) + c.fill_radius_um
        fill_half = half + c.fill_thickness_um
        if fill_reach >= self.medium_radius_um or c.z_um - fill_half <= 0 or \
                c.z_um + fill_half >= self.medium_length_um:
            raise ParameterError("cuff", "cuff: the U-cuff and its fill must lie inside the medium cylinder (radius "
                                         f"{self.medium_radius_um:g} um, z in (0, {self.medium_length_um:g}) um)")

    @property
    def nerve(self) -> Circle | Ellipse | Polygon:
        """The nerve (epineurium) outline: the circle of ``nerve_diameter_um`` about (0, 0), or ``nerve_shape``."""
        if self.nerve_shape is not None:
            return self.nerve_shape
        return Circle(0.0, 0.0, self.nerve_diameter_um)

    def sources_um(self) -> list[tuple[float, float, float]]:
        """Where each basis's 1 mA enters (§1).

        Returns
        -------
        list of tuple
            (x, y, z) µm: the point contacts, then each cuff contact's source.
        """
        out = [(c.x_um, c.y_um, c.z_um) for c in self.contacts]
        if self.cuff is not None:
            out += [self.cuff.source_um(k) for k in range(len(self.cuff.contacts))]
        return out

    # ---- derived quantities -------------------------------------------------------------------------------------
    def conductivity(self, function: str) -> tuple[float, float, float]:
        """Conductivity of a function: the override, else ASCENT's default material (§3).

        Parameters
        ----------
        function : str
            One of ``FUNCTIONS``.

        Returns
        -------
        tuple of float
            (σx, σy, σz) S/m.
        """
        value = self.materials.get(function, _read("materials.toml")["function_defaults"][function])
        return _conductivity(f"materials.{function}", value)

    def perineurium_thickness_um(self, fascicle: Circle | Ellipse | Polygon) -> float:
        """Thickness of a fascicle's perineurium: the number given, or rule a·d + b (§2).

        Parameters
        ----------
        fascicle : Circle, Ellipse or Polygon
            The fascicle (its endoneurium outline).

        Returns
        -------
        float
            Thickness (µm).
        """
        t = self.perineurium_thickness
        if isinstance(t, str):
            a, b = thickness_rules()[t]
            # ASCENT (Part FascicleCI, §2, §4): d = 2√(A_inner/π), the area-equivalent diameter of the inner
            # (endoneurium) trace, for every shape; for a circle that is its diameter
            return a * fascicle.equivalent_diameter_um + b
        return float(t)

    def sheet_resistance_ohm_m2(self, fascicle: Circle | Ellipse | Polygon) -> float:
        """Sheet resistance of a fascicle's perineurium (§2).

        Parameters
        ----------
        fascicle : Circle, Ellipse or Polygon
            The fascicle.

        Returns
        -------
        float
            ρs = thickness × resistivity (Ω·m²).
        """
        return self.perineurium_thickness_um(fascicle) * 1e-6 * self.perineurium_resistivity_ohm_m

    def to_dict(self) -> dict:
        """The spec as TOML-shaped plain data.

        Returns
        -------
        dict
            Keys as in the TOML file, a cuff preset resolved; `from_dict` inverts it.
        """
        # a circular nerve and circular fascicles keep their original keys, so older specs hash as before
        return {"nerve": {"diameter_um": self.nerve_diameter_um} if self.nerve_shape is None else
                self.nerve_shape.to_dict(),
                "fascicle": [f.to_dict() for f in self.fascicles],
                "perineurium": {"thickness": self.perineurium_thickness,
                                "resistivity_ohm_m": self.perineurium_resistivity_ohm_m},
                "materials": dict(self.materials),
                "medium": {"radius_um": self.medium_radius_um, "length_um": self.medium_length_um},
                "contact": [dataclasses.asdict(c) for c in self.contacts],
                "mesh": dataclasses.asdict(self.mesh)} | \
            ({} if self.cuff is None else
             {"cuff": {"kind": "helix"} | dataclasses.asdict(self.cuff)} if isinstance(self.cuff, HelixCuff) else
             {"cuff": {"kind": "u"} | dataclasses.asdict(self.cuff)} if isinstance(self.cuff, UCuff) else
             {"cuff": {k: v for k, v in dataclasses.asdict(self.cuff).items() if k != "contacts"}
              | {"contact": [({"shape": "wire"} if isinstance(e, WireContact) else {}) | dataclasses.asdict(e)
                             for e in self.cuff.contacts]}})

    def hash(self) -> str:
        """The key of cached fields.

        Returns
        -------
        str
            SHA-256 (hex) of the spec with the conductivities resolved.
        """
        def floats(v):  # 200 and 200.0 are the same size
            if isinstance(v, dict):
                return {k: floats(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [floats(x) for x in v]
            return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

        data = floats(self.to_dict())
        data["resolved_S_m"] = {f: self.conductivity(f) for f in FUNCTIONS}
        data["format"] = SPEC_FORMAT
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: dict) -> FieldSpec:
        """Build a spec from TOML-shaped data.

        Parameters
        ----------
        data : dict
            Tables as in the module docstring; every unknown key or bad value raises ParameterError naming it.

        Returns
        -------
        FieldSpec
            The checked spec.
        """
        _known_keys("spec", data, ("nerve", "fascicle", "perineurium", "materials", "medium", "contact", "mesh",
                                   "cuff"))
        for name in ("nerve", "medium"):
            if name not in data:
                raise ParameterError(name, f"{name}: missing table [{name}]")
        nerve = data["nerve"]
        nerve_shape = None if nerve.get("shape", "circle") == "circle" else _outline("nerve", nerve, centred=True)
        if nerve_shape is None:
            _known_keys("nerve", nerve, ("shape", "diameter_um"))
        medium = dict(data["medium"])
        _known_keys("medium", medium, ("material", "radius_um", "length_um"))
        materials = dict(data.get("materials", {}))
        if "material" in medium:
            if "medium" in materials:
                raise ParameterError("medium.material", "medium.material: also given as materials.medium; keep one")
            materials["medium"] = medium["material"]
        peri = data.get("perineurium", {})
        _known_keys("perineurium", peri, ("thickness", "resistivity_ohm_m"))
        mesh = data.get("mesh", {})
        _known_keys("mesh", mesh, tuple(f.name for f in dataclasses.fields(MeshSettings)))

        def rows(table, name, kind, keys, optional=(), prefix="", index=0):  # index: of the first row
            out = []
            for i, row in enumerate(table.get(name, []), start=index):
                label = f"{prefix}{name}[{i}]"
                _known_keys(label, row, keys + optional)
                for k in keys:
                    if k not in row:
                        raise ParameterError(f"{label}.{k}", f"{label}.{k}: missing")
                out.append(kind(**{k: row[k] for k in keys + optional if k in row}))
            return tuple(out)

        cuff = None
        if "cuff" in data and "preset" in data["cuff"]:
            _known_keys("cuff", data["cuff"], ("preset", "angle_deg", "z_um"))
            if nerve_shape is None:
                reach = _number("nerve.diameter_um", nerve.get("diameter_um")) / 2
            else:
                nerve_shape.check("nerve")
                reach = nerve_shape.reach_um()
            cuff = preset_cuff(data["cuff"]["preset"], 2 * reach,
                               data["cuff"].get("angle_deg", 0.0),
                               data["cuff"].get("z_um", _number("medium.length_um", medium.get("length_um")) / 2))
        elif "cuff" in data and data["cuff"].get("kind") in ("helix", "u"):
            kind = HelixCuff if data["cuff"]["kind"] == "helix" else UCuff
            table = {k: tuple(v) if isinstance(v, list) else v for k, v in data["cuff"].items() if k != "kind"}
            names = tuple(f.name for f in dataclasses.fields(kind))
            _known_keys("cuff", table, names)
            for f in dataclasses.fields(kind):
                if f.name not in table and f.default is dataclasses.MISSING:
                    raise ParameterError(f"cuff.{f.name}", f"cuff.{f.name}: missing")
            cuff = kind(**table)
        elif "cuff" in data:
            table = dict(data["cuff"])
            fixed = ("inner_radius_um", "thickness_um", "length_um", "z_um")
            _known_keys("cuff", table, fixed + ("angle_deg", "arc_deg", "contact"))
            for k in fixed:
                if k not in table:
                    raise ParameterError(f"cuff.{k}", f"cuff.{k}: missing")
            contacts = []
            for i, row in enumerate(table.pop("contact", [])):
                shape = row.get("shape", "ribbon")
                if shape not in ("ribbon", "wire"):
                    raise ParameterError(f"cuff.contact[{i}].shape", f"cuff.contact[{i}].shape={shape!r}: unknown; "
                                                                     "give 'ribbon' (the default) or 'wire'")
                row = {k: v for k, v in row.items() if k != "shape"}
                kind, keys, optional = (WireContact, ("z_um", "wire_radius_um"), ("arc_deg", "wall_gap_um",
                                                                                   "start_deg")) \
                    if shape == "wire" else (CuffContact, ("z_um", "width_um"), ("arc_deg", "thickness_um",
                                                                                 "recess_um", "start_deg"))
                contacts += rows({"contact": [row]}, "contact", kind, keys, optional, prefix="cuff.", index=i)
            cuff = Cuff(contacts=tuple(contacts), **table)

        for key in ((("nerve", "diameter_um"),) if nerve_shape is None else ()) + \
                (("medium", "radius_um"), ("medium", "length_um")):
            if key[1] not in data[key[0]]:
                raise ParameterError(".".join(key), f"{'.'.join(key)}: missing")
        return cls(nerve_diameter_um=nerve["diameter_um"] if nerve_shape is None else None, nerve_shape=nerve_shape,
                   fascicles=tuple(_outline(f"fascicle[{i}]", row) for i, row in enumerate(data.get("fascicle", []))),
                   contacts=rows(data, "contact", Contact, ("x_um", "y_um", "z_um")),
                   medium_radius_um=medium["radius_um"], medium_length_um=medium["length_um"],
                   perineurium_thickness=peri.get("thickness", "PIG_VN_INHOUSE_200523"),
                   perineurium_resistivity_ohm_m=peri.get("resistivity_ohm_m", 1149.0),
                   materials=materials, mesh=MeshSettings(**mesh), cuff=cuff)


SHAPE_KEYS = {"circle": ("x_um", "y_um", "diameter_um"), "ellipse": ("x_um", "y_um", "axes_um", "angle_deg"),
              "polygon": ("vertices_um",)}


def _outline(label: str, table: dict, *, centred: bool = False) -> Circle | Ellipse | Polygon:
    """A [nerve] or [[fascicle]] table as an outline (values checked later by its ``check``); ``centred``: the
    centre keys are optional (0), as for the nerve."""
    shape = table.get("shape", "circle")
    if shape not in SHAPE_KEYS:
        raise ParameterError(f"{label}.shape", f"{label}.shape={shape!r}: unknown; give one of "
                                               f"{', '.join(SHAPE_KEYS)}")
    keys = SHAPE_KEYS[shape]
    _known_keys(label, table, ("shape",) + keys)
    optional = ("angle_deg",) + (("x_um", "y_um") if centred else ())
    for k in keys:
        if k not in table and k not in optional:
            raise ParameterError(f"{label}.{k}", f"{label}.{k}: missing (shape {shape!r} needs {', '.join(keys)})")
    if shape == "circle":
        return Circle(table["x_um"], table["y_um"], table["diameter_um"])
    if shape == "ellipse":
        return Ellipse(table.get("x_um", 0.0), table.get("y_um", 0.0), table["axes_um"], table.get("angle_deg", 0.0))
    return Polygon(table["vertices_um"])


def _describe(f: Circle | Ellipse | Polygon) -> str:
    """A short description of an outline for messages."""
    if isinstance(f, Polygon):
        return f"polygon of {len(f.vertices_um)} corners"
    size = f"diameter {f.diameter_um:g} um" if isinstance(f, Circle) else \
        f"axes {f.axes_um[0]:g} x {f.axes_um[1]:g} um"
    return f"at ({f.x_um:g}, {f.y_um:g}) um, {size}"


def cuff_presets() -> dict[str, dict]:
    """Cuff presets of ``models/field/cuffs.toml`` (§5).

    Returns
    -------
    dict
        Name -> parameters.
    """
    return _read("cuffs.toml")


def preset_cuff(name: str, nerve_diameter_um: float, angle_deg: float = 0.0,
                z_um: float = 0.0) -> Cuff | HelixCuff | UCuff:
    """The cuff of preset ``name`` around a nerve of ``nerve_diameter_um``, centred at ``z_um``, rotated by
    ``angle_deg`` (ASCENT's pos_ang: the contacts' clockwise edge), opened as ASCENT opens expandable cuffs (§5).

    Tube cuffs (``kind = "tube"``, §5.3): R_in = max(r_nerve + gap, r_pre), arc = 360°·fraction·r_pre/R_in
    (a full tube from 359°), contact arc = 360°·B/(2π(R_in + recess)). U cuffs (``kind = "u"``, §5.4, `UCuff`) do
    not open: the nerve must fit with its gap. Tubes with wire contacts (``kind = "wire"``,
    §5.2): R_in = max(r_nerve + gap + 2 r_wire + sep_wire, r_pre), wire arc = θ_pre·(r_pre − a)/(R_in − a) with
    a = sep_wire + 2 r_wire (the arc length of the wire's inner edge kept). In both
    the contacts span ``angle_deg`` .. ``angle_deg`` + contact arc and the tube is turned by −(arc − contact arc)/2
    (ASCENT's Rot_def), centring them in its arc. Helical cuffs (``kind = "helix"``, §5.1): see `HelixCuff`.

    Parameters
    ----------
    name : str
        Preset name (`cuff_presets`).
    nerve_diameter_um : float
        Nerve diameter (µm; for a non-circular nerve twice its reach from the axis).
    angle_deg : float, optional
        Rotation about the nerve axis (degrees).
    z_um : float, optional
        Cuff centre (µm).

    Returns
    -------
    Cuff, HelixCuff or UCuff
        The opened cuff; ParameterError (``cuff.preset``) if the nerve needs more room than a cuff that does not
        expand has.
    """
    presets = cuff_presets()
    if name not in presets:
        raise ParameterError("cuff.preset", f"cuff.preset={name!r}: unknown; known: {', '.join(presets)}")
    p = presets[name]
    _number("cuff.angle_deg", angle_deg, positive=False)
    r_nerve = nerve_diameter_um / 2
    if p["kind"] == "helix":
        return _preset_helix(name, p, r_nerve, angle_deg, z_um)
    if p["kind"] == "u":
        return UCuff(inner_radius_um=_opened_radius(name, p, r_nerve + p["gap_um"]),
                     outer_radius_um=p["outer_radius_um"], tangent_um=p["tangent_um"], slit_um=p["slit_um"],
                     outer_x_um=p["outer_x_um"], outer_y_um=p["outer_y_um"], length_um=p["length_um"], z_um=z_um,
                     contacts_um=tuple(sign * p["pitch_um"] / 2 for sign in p["contact_z_sign"]),
                     contact_width_um=p["contact_width_um"], contact_thickness_um=p["contact_thickness_um"],
                     recess_um=p["recess_um"], fill_thickness_um=p["fill_thickness_um"], angle_deg=angle_deg)
    wire = p["kind"] == "wire"
    # the wire sits in the lumen: ASCENT's offset (2 r_wire + sep_wire) between nerve gap and tube
    r_in = _opened_radius(name, p, r_nerve + p["gap_um"] + (2 * p["wire_radius_um"] + p["wire_gap_um"] if wire else 0))
    arc = 360.0 * p["percent_circ_cuff_pre"] * p["r_cuff_in_pre_um"] / r_in
    arc = 360.0 if arc >= 359 else arc  # TubeCuff builds a full tube from 359°
    if wire:
        a = p["wire_gap_um"] + 2 * p["wire_radius_um"]  # the arc length of the wire's inner edge is kept
        contact_arc = p["wire_arc_pre_deg"] * (p["r_cuff_in_pre_um"] - a) / (r_in - a)
        contacts = tuple(WireContact(z_um=sign * p["pitch_um"] / 2, wire_radius_um=p["wire_radius_um"],
                                     arc_deg=contact_arc, wall_gap_um=p["wire_gap_um"],
                                     start_deg=(arc - contact_arc) / 2)
                         for sign in p["contact_z_sign"])
    else:
        contact_arc = min(arc, 360.0 * p["contact_arc_um"] / (2 * math.pi * (r_in + p["recess_um"])))
        contacts = tuple(CuffContact(z_um=sign * p["pitch_um"] / 2, width_um=p["contact_width_um"],
                                     arc_deg=contact_arc, thickness_um=p["contact_thickness_um"],
                                     recess_um=p["recess_um"], start_deg=(arc - contact_arc) / 2)
                         for sign in p["contact_z_sign"])
    return Cuff(inner_radius_um=r_in, thickness_um=p["thickness_um"], length_um=p["length_um"], z_um=z_um,
                contacts=contacts, angle_deg=angle_deg - (arc - contact_arc) / 2, arc_deg=arc)


def _opened_radius(name: str, p: dict, r_need: float) -> float:
    """Inner radius of preset ``p`` around a nerve that needs ``r_need`` µm: max(r_need, r_pre) if it expands."""
    if r_need > p["r_cuff_in_pre_um"] and not p["expandable"]:
        raise ParameterError("cuff.preset", f"cuff.preset={name!r}: inner radius {p['r_cuff_in_pre_um']:g} um is "
                                            f"smaller than the nerve needs ({r_need:g} um) and it does not expand; "
                                            "choose a wider or an expandable cuff")
    return max(r_need, p["r_cuff_in_pre_um"])


def _preset_helix(name: str, p: dict, r_nerve: float, angle_deg: float, z_um: float) -> HelixCuff:
    """ASCENT's helical presets (§5.1), opened to r_nerve + gap keeping an arc length (turns shrink):
    ``opening = "centre_line"`` (LivaNova2000): the centre line's, from a reference inner diameter switched by the
    nerve size, the band over fixed fractions of the turns; ``"inner_face"`` (LivaNova2000_v2): the inner face's,
    from r_pre, for the silicone and the platinum band (centred on the helix) each. Turned by ``angle_deg`` + corr
    so the contact centre stays at 90° + ``angle_deg``."""
    gap, pitch, thk = p["gap_um"], p["pitch_um"], p["thickness_um"]
    r_need = r_nerve + gap
    r_pre = p["r_cuff_in_pre_um"]
    r_in = _opened_radius(name, p, r_need)
    if p["opening"] == "centre_line":
        inner_d = p["id_small_um"] if r_need < p["id_switch_radius_um"] else p["id_large_um"]
        turns = p["turns_pre"] if r_need < r_pre else p["turns_pre"] * math.sqrt(
            (pitch**2 + (math.pi * (inner_d + thk))**2) / (pitch**2 + (math.pi * (2 * r_need + thk))**2))
        contact_from, contact_to = p["contact_from"], p["contact_to"]
    else:
        def opened(turns_pre):  # turns of a helix of the same arc length at r_in
            return turns_pre * math.hypot(pitch, 2 * math.pi * r_pre) / math.hypot(pitch, 2 * math.pi * r_in)
        turns, band = opened(p["turns_pre"]), opened(p["contact_deg_pre"] / 360)
        contact_from, contact_to = 0.5 - band / turns / 2, 0.5 + band / turns / 2
    # LivaNova2000: 360 (0.75 - 0.3 rev + 0.2 (2.5 - rev)); LivaNova2000_v2: 90 - 180 rev, the same modulo 360;
    # both keep the contact centre (mid-helix) at 90 deg
    corr = 450.0 - 180.0 * turns
    return HelixCuff(inner_radius_um=r_in, thickness_um=thk, width_um=p["width_um"], pitch_um=pitch, turns=turns,
                     centres_um=tuple(z_um + sign * p["separation_um"] / 2 for sign in p["contact_z_sign"]),
                     start_deg=angle_deg + corr, contact_width_um=p["contact_width_um"],
                     contact_thickness_um=p["contact_thickness_um"], contact_from=contact_from,
                     contact_to=contact_to, fill_radius_um=r_in + thk + p["fill_thickness_um"],
                     fill_length_um=turns * pitch + p["width_um"] + 2 * p["fill_thickness_um"])


def load_spec(path: str | Path) -> FieldSpec:
    """Read a TOML model spec (module docstring) and check it.

    Parameters
    ----------
    path : str or Path
        The TOML file.

    Returns
    -------
    FieldSpec
        The checked spec.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError("spec", f"spec {path}: not valid TOML ({exc})") from None
    return FieldSpec.from_dict(data)
