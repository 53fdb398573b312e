"""Cross-section outlines of the volume conductor (µm): circles, ellipses and polygons, with the exact geometry the
spec checks (overlap, containment), the mesh (face naming) and the fibre placement need.

Every outline has a signed distance to its boundary (> 0 inside), its area, centroid and area-equivalent diameter
2√(A/π) (ASCENT's d of the perineurium rules, volume-conductor.md §2, §4). Overlap and containment are decided
exactly: an affine map takes a circle or ellipse onto the unit disc, and a unit disc at the origin is disjoint from
(inside) another outline exactly when the outline's signed distance at the origin is < −1 (> 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError

_CHUNK = 2_000_000  # point-edge pairs evaluated at once in polygon distances (memory ~ 16 B each per array)


def _number(key: str, value: Any, *, positive: bool = True, allow_zero: bool = False) -> float:
    """``value`` as a finite float (> 0, or >= 0 with ``allow_zero``, unless not ``positive``), else ParameterError
    naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(key, f"{key}={value!r}: must be a number")
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(key, f"{key}={value!r}: must be finite")
    if positive and (v < 0 or (v == 0 and not allow_zero)):
        raise ParameterError(key, f"{key}={value!r}: must be {'>= 0' if allow_zero else '> 0'}")
    return v


_DOCS = {
    "check": """Check the values.

        Parameters
        ----------
        key : str
            Name of the table in messages (``fascicle[2]``, ``nerve``).

        Raises
        ------
        ParameterError
            Naming ``key.<field>`` (with the element's index) of the first bad value.
        """,
    "signed_distance_um": """Exact signed distance from points to the {kind}'s boundary.

        Parameters
        ----------
        x_um, y_um : array_like
            Points (µm), broadcast together.

        Returns
        -------
        ndarray
            Distance (µm): > 0 inside, < 0 outside.
        """,
    "outline_um": """Points on the boundary ({points}).

        Parameters
        ----------
        n : int, optional
            How many ({n}).

        Returns
        -------
        ndarray
            Shape (n, 2), µm.
        """,
    "reach_um": """Largest distance of the {kind} from the origin: the radius of the smallest circle about the nerve
        axis that holds it (what a cuff centred on the axis must clear).

        Returns
        -------
        float
            µm.
        """,
    "to_unit_disc": """The affine map p -> T p + t taking the {kind} onto the unit disc.

        Returns
        -------
        tuple of ndarray
            (T, t): 2 × 2 matrix and shift.
        """,
    "mapped": """The image under the affine map p -> T p + t.

        Parameters
        ----------
        t_matrix : ndarray
            T, 2 × 2.
        t_shift : ndarray
            t, length 2.

        Returns
        -------
        {image}
            The image.
        """,
    "to_dict": """The TOML table of the {kind}: a ``[[fascicle]]`` table ({keys}).

        Returns
        -------
        dict
            Keys and values.
        """,
}


def _shared_docs(**fields):
    """Class decorator: fill the docstrings of the methods every outline has from ``_DOCS``."""
    def decorate(cls):
        for name, doc in _DOCS.items():
            if name in vars(cls):
                vars(cls)[name].__doc__ = doc.format(**fields)
        return cls
    return decorate


def _rotation(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


class _Outline:
    """What every outline offers; subclasses set the geometry."""

    @property
    def equivalent_diameter_um(self) -> float:
        """Area-equivalent diameter 2√(A/π) (µm): ASCENT's d of the perineurium thickness rules (§2, §4)."""
        return 2 * math.sqrt(self.area_um2 / math.pi)

    def contains(self, x_um, y_um, margin_um: float = 0.0) -> np.ndarray:
        """Whether discs of radius ``margin_um`` centred at the points lie wholly inside (strictly).

        Parameters
        ----------
        x_um, y_um : array_like
            Points (µm).
        margin_um : float, optional
            Disc radius (µm); 0 tests the points themselves.

        Returns
        -------
        ndarray of bool
            Shaped like the broadcast points.
        """
        return self.signed_distance_um(x_um, y_um) > margin_um


@_shared_docs(kind="circle", points="counter-clockwise", n="default 361", image="Ellipse",
              keys="the keys circular fascicles always had, no ``shape``")
@dataclass(frozen=True)
class Circle(_Outline):
    """A circle.

    Attributes
    ----------
    x_um, y_um : float
        Centre (µm).
    diameter_um : float
        Diameter (µm).
    """

    x_um: float
    y_um: float
    diameter_um: float

    def check(self, key: str) -> None:
        _number(f"{key}.x_um", self.x_um, positive=False)
        _number(f"{key}.y_um", self.y_um, positive=False)
        _number(f"{key}.diameter_um", self.diameter_um)

    @property
    def area_um2(self) -> float:
        """Area (µm²)."""
        return math.pi * self.diameter_um**2 / 4

    @property
    def centroid_um(self) -> tuple[float, float]:
        """Centroid (µm)."""
        return (self.x_um, self.y_um)

    @property
    def equivalent_diameter_um(self) -> float:
        """The diameter itself (µm)."""
        return self.diameter_um

    @property
    def inradius_um(self) -> float:
        """Radius of the largest circle inside (µm)."""
        return self.diameter_um / 2

    @property
    def bounds_um(self) -> tuple[float, float, float, float]:
        """Bounding box (x_min, y_min, x_max, y_max), µm."""
        r = self.diameter_um / 2
        return (self.x_um - r, self.y_um - r, self.x_um + r, self.y_um + r)

    def signed_distance_um(self, x_um, y_um) -> np.ndarray:
        return self.diameter_um / 2 - np.hypot(np.asarray(x_um, float) - self.x_um, np.asarray(y_um, float) - self.y_um)

    def outline_um(self, n: int = 361) -> np.ndarray:
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = self.diameter_um / 2
        return np.column_stack([self.x_um + r * np.cos(t), self.y_um + r * np.sin(t)])

    def reach_um(self) -> float:
        return math.hypot(self.x_um, self.y_um) + self.diameter_um / 2

    def to_unit_disc(self) -> tuple[np.ndarray, np.ndarray]:
        s = 2 / self.diameter_um
        return np.eye(2) * s, -s * np.array([self.x_um, self.y_um])

    def mapped(self, t_matrix: np.ndarray, t_shift: np.ndarray) -> Ellipse:
        return Ellipse(self.x_um, self.y_um, (self.diameter_um, self.diameter_um)).mapped(t_matrix, t_shift)

    def to_dict(self) -> dict:
        return {"x_um": self.x_um, "y_um": self.y_um, "diameter_um": self.diameter_um}


def _ellipse_distance(e0: float, e1: float, y0: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """Distance from points (y0, y1) >= 0 to the ellipse (x/e0)² + (y/e1)² = 1, e0 >= e1 > 0.

    The closest point x satisfies x_i = e_i² y_i / (t + e_i²) for the root t of Σ (e_i y_i / (t + e_i²))² = 1
    (Lagrange condition). With u = t / e1² + 1, z_i = y_i / e_i and r0 = (e0/e1)², the root of
    G(u) = (r0 z0 / (u + r0 − 1))² + (z1 / u)² − 1 lies in [z1, max(1, |(r0 z0, z1)|)], where G decreases:
    bisection (u itself, not u − 1, keeps points near the major axis exact). Points on the axes in closed form."""
    z0, z1 = y0 / e0, y1 / e1
    r0 = (e0 / e1) ** 2
    outside = z0**2 + z1**2 - 1 >= 0
    lo = z1
    hi = np.where(outside, np.hypot(r0 * z0, z1), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(120):  # halves the bracket to double precision (its width is at most ~|p| / e1)
            u = 0.5 * (lo + hi)
            g = (r0 * z0 / (u + r0 - 1)) ** 2 + (z1 / u) ** 2 - 1
            lo, hi = np.where(g > 0, u, lo), np.where(g > 0, hi, u)
        u = 0.5 * (lo + hi)
        general = np.hypot(r0 * y0 / (u + r0 - 1) - y0, y1 / u - y1)
        # on the major axis (y1 = 0): the closest point is off-axis while y0 < (e0² − e1²)/e0 (inside, near the centre)
        c = e0**2 - e1**2
        x0 = np.where(e0 * y0 < c, e0**2 * y0 / np.where(c > 0, c, 1.0), e0)
        on_major = np.where(e0 * y0 < c, np.hypot(x0 - y0, e1 * np.sqrt(np.clip(1 - (x0 / e0) ** 2, 0, None))),
                            np.abs(y0 - e0))
    return np.where(y1 > 0, np.where(y0 > 0, general, np.abs(y1 - e1)), on_major)


@_shared_docs(kind="ellipse", points="counter-clockwise", n="default 361", image="Ellipse",
              keys='``shape = "ellipse"``')
@dataclass(frozen=True)
class Ellipse(_Outline):
    """An ellipse.

    Attributes
    ----------
    x_um, y_um : float
        Centre (µm).
    axes_um : tuple of float
        Full axes (µm): the first along the direction ``angle_deg``, the second across it.
    angle_deg : float
        Direction of the first axis, counter-clockwise from +x (degrees).
    """

    x_um: float
    y_um: float
    axes_um: tuple[float, float]
    angle_deg: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.axes_um, list):  # TOML gives lists; tuples keep equal specs equal
            object.__setattr__(self, "axes_um", tuple(self.axes_um))

    def check(self, key: str) -> None:
        _number(f"{key}.x_um", self.x_um, positive=False)
        _number(f"{key}.y_um", self.y_um, positive=False)
        _number(f"{key}.angle_deg", self.angle_deg, positive=False)
        if not isinstance(self.axes_um, (tuple, list)) or len(self.axes_um) != 2:
            raise ParameterError(f"{key}.axes_um", f"{key}.axes_um={self.axes_um!r}: give the two full axes [a, b] "
                                                   "in um")
        for i, v in enumerate(self.axes_um):
            _number(f"{key}.axes_um[{i}]", v)

    @property
    def area_um2(self) -> float:
        """Area π·a·b/4 (µm², a and b the full axes)."""
        return math.pi * self.axes_um[0] * self.axes_um[1] / 4

    @property
    def centroid_um(self) -> tuple[float, float]:
        """Centroid = centre (µm)."""
        return (self.x_um, self.y_um)

    @property
    def inradius_um(self) -> float:
        """Radius of the largest circle inside: the smaller semi-axis (µm)."""
        return min(self.axes_um) / 2

    @property
    def bounds_um(self) -> tuple[float, float, float, float]:
        """Bounding box (x_min, y_min, x_max, y_max), µm."""
        a, b, t = self.axes_um[0] / 2, self.axes_um[1] / 2, math.radians(self.angle_deg)
        hx, hy = math.hypot(a * math.cos(t), b * math.sin(t)), math.hypot(a * math.sin(t), b * math.cos(t))
        return (self.x_um - hx, self.y_um - hy, self.x_um + hx, self.y_um + hy)

    def _local(self, x_um, y_um) -> tuple[np.ndarray, np.ndarray]:
        """Points in the ellipse's own frame (first axis along x)."""
        dx, dy = np.asarray(x_um, float) - self.x_um, np.asarray(y_um, float) - self.y_um
        c, s = math.cos(math.radians(self.angle_deg)), math.sin(math.radians(self.angle_deg))
        return c * dx + s * dy, -s * dx + c * dy

    def signed_distance_um(self, x_um, y_um) -> np.ndarray:
        u, v = self._local(x_um, y_um)
        a, b = self.axes_um[0] / 2, self.axes_um[1] / 2
        if a < b:
            a, b, u, v = b, a, v, u
        d = _ellipse_distance(a, b, np.abs(u), np.abs(v))
        return np.where((u / a) ** 2 + (v / b) ** 2 < 1, d, -d)

    def outline_um(self, n: int = 361) -> np.ndarray:
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        local = np.column_stack([self.axes_um[0] / 2 * np.cos(t), self.axes_um[1] / 2 * np.sin(t)])
        return local @ _rotation(self.angle_deg).T + [self.x_um, self.y_um]

    def reach_um(self) -> float:
        # the farthest of 4096 boundary points, refined by golden-section search around it (to ~1e-9 µm)
        rot = _rotation(self.angle_deg) * [self.axes_um[0] / 2, self.axes_um[1] / 2]
        centre = np.array([self.x_um, self.y_um])

        def dist(t):
            return float(np.hypot(*(centre + rot @ [math.cos(t), math.sin(t)])))
        n = 4096
        k = int(np.argmax(np.hypot(*self.outline_um(n).T)))
        lo, hi = 2 * np.pi * (k - 1) / n, 2 * np.pi * (k + 1) / n
        g = (math.sqrt(5) - 1) / 2
        for _ in range(60):
            m1, m2 = hi - g * (hi - lo), lo + g * (hi - lo)
            lo, hi = (m1, hi) if dist(m1) < dist(m2) else (lo, m2)
        return dist((lo + hi) / 2)

    def to_unit_disc(self) -> tuple[np.ndarray, np.ndarray]:
        t_matrix = np.diag([2 / self.axes_um[0], 2 / self.axes_um[1]]) @ _rotation(self.angle_deg).T
        return t_matrix, -t_matrix @ [self.x_um, self.y_um]

    def mapped(self, t_matrix: np.ndarray, t_shift: np.ndarray) -> Ellipse:
        # {c + M u : |u| <= 1} goes to {T c + t + T M u}: semi-axes = singular values of T M, along its left
        # singular vectors
        m = t_matrix @ _rotation(self.angle_deg) @ np.diag([self.axes_um[0] / 2, self.axes_um[1] / 2])
        u, s, _ = np.linalg.svd(m)
        centre = t_matrix @ [self.x_um, self.y_um] + t_shift
        return Ellipse(float(centre[0]), float(centre[1]), (2 * float(s[0]), 2 * float(s[1])),
                       math.degrees(math.atan2(u[1, 0], u[0, 0])))

    def to_dict(self) -> dict:
        return {"shape": "ellipse", "x_um": self.x_um, "y_um": self.y_um, "axes_um": list(self.axes_um),
                "angle_deg": self.angle_deg}


def _orient(ax, ay, bx, by, cx, cy):
    """Twice the signed area of the triangles (a, b, c): > 0 counter-clockwise, 0 collinear."""
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _segments_meet(p0, p1, q0, q1) -> np.ndarray:
    """Whether closed segments p0-p1 and q0-q1 share a point (arrays (..., 2), broadcast); touching counts."""
    o1 = _orient(*p0.T, *p1.T, *q0.T)
    o2 = _orient(*p0.T, *p1.T, *q1.T)
    o3 = _orient(*q0.T, *q1.T, *p0.T)
    o4 = _orient(*q0.T, *q1.T, *p1.T)

    def on(a0, a1, b, o):  # b collinear with a0-a1 and within its bounding box
        return (o == 0) & (np.minimum(a0[..., 0], a1[..., 0]) <= b[..., 0]) & (b[..., 0] <= np.maximum(
            a0[..., 0], a1[..., 0])) & (np.minimum(a0[..., 1], a1[..., 1]) <= b[..., 1]) & (
            b[..., 1] <= np.maximum(a0[..., 1], a1[..., 1]))
    proper = (np.sign(o1) * np.sign(o2) < 0) & (np.sign(o3) * np.sign(o4) < 0)
    return proper | on(p0, p1, q0, o1) | on(p0, p1, q1, o2) | on(q0, q1, p0, o3) | on(q0, q1, p1, o4)


@_shared_docs(kind="polygon", points="its corners, in their order", n="ignored: the corners are the outline",
              image="Polygon", keys='``shape = "polygon"``')
@dataclass(frozen=True)
class Polygon(_Outline):
    """A simple polygon (its corners in order, either sense; the last joins the first).

    Attributes
    ----------
    vertices_um : tuple of (float, float)
        Corners (x, y) in µm, each listed once.
    """

    vertices_um: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if isinstance(self.vertices_um, (list, tuple)):  # TOML gives lists; tuples keep equal specs equal
            object.__setattr__(self, "vertices_um", tuple(tuple(p) if isinstance(p, list) else p
                                                          for p in self.vertices_um))

    @property
    def _xy(self) -> np.ndarray:
        return np.asarray(self.vertices_um, float)

    def check(self, key: str) -> None:
        # fewer than 3 corners, a non-number, a repeated corner, crossing or folded-back edges, no area
        name = f"{key}.vertices_um"
        v = self.vertices_um
        if not isinstance(v, (tuple, list)) or len(v) < 3:
            raise ParameterError(name, f"{name}: give at least 3 corners [[x_um, y_um], ...]")
        for i, p in enumerate(v):
            if not isinstance(p, (tuple, list)) or len(p) != 2:
                raise ParameterError(f"{name}[{i}]", f"{name}[{i}]={p!r}: give a corner as [x_um, y_um]")
            for j, c in enumerate(p):
                _number(f"{name}[{i}][{j}]", c, positive=False)
        xy = self._xy
        nxt = np.roll(xy, -1, axis=0)
        repeated = np.flatnonzero(np.all(xy == nxt, axis=1))
        if repeated.size:
            i = int(repeated[0])
            raise ParameterError(name, f"{name}: corner {(i + 1) % len(xy)} repeats corner {i}; list each corner "
                                       "once (the polygon closes itself)")
        n = len(xy)
        i, j = np.triu_indices(n, 2)
        keep = (j - i) % n != n - 1  # edges i and j not adjacent (edge n-1 joins edge 0)
        i, j = i[keep], j[keep]
        crossing = _segments_meet(xy[i], nxt[i], xy[j], nxt[j])
        # adjacent edges meet at their shared corner only, unless they fold back onto each other
        prev = np.roll(xy, 1, axis=0)
        fold = (_orient(*prev.T, *xy.T, *nxt.T) == 0) & (np.sum((xy - prev) * (nxt - xy), axis=1) < 0)
        if np.any(crossing) or np.any(fold):
            where = f"edges {i[crossing][0]} and {j[crossing][0]}" if np.any(crossing) else \
                f"the edges at corner {int(np.flatnonzero(fold)[0])}"
            raise ParameterError(name, f"{name}: the polygon crosses itself ({where} meet); give the corners of a "
                                       "simple polygon in order around it")
        if self.area_um2 <= 0:
            raise ParameterError(name, f"{name}: the polygon has no area; give at least 3 corners not on one line")

    @property
    def signed_area_um2(self) -> float:
        """Area by the shoelace formula (µm²): > 0 when the corners run counter-clockwise."""
        x, y = self._xy.T
        return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))

    @property
    def area_um2(self) -> float:
        """Area by the shoelace formula (µm²)."""
        return abs(self.signed_area_um2)

    @property
    def centroid_um(self) -> tuple[float, float]:
        """Area centroid (µm)."""
        x, y = self._xy.T
        x1, y1 = np.roll(x, -1), np.roll(y, -1)
        cross = x * y1 - x1 * y
        a6 = 6 * self.signed_area_um2
        return (float(np.sum((x + x1) * cross) / a6), float(np.sum((y + y1) * cross) / a6))

    @property
    def inradius_um(self) -> float:
        """Radius of the largest circle inside (µm): the largest signed distance on a 128 × 128 grid over the
        bounding box, refined twice on finer grids around the best point (a slight underestimate)."""
        x0, y0, x1, y1 = self.bounds_um
        cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        best = -np.inf
        for _ in range(3):
            gx, gy = np.meshgrid(np.linspace(cx - hx, cx + hx, 128), np.linspace(cy - hy, cy + hy, 128))
            d = self.signed_distance_um(gx.ravel(), gy.ravel())
            k = int(np.argmax(d))
            best, cx, cy = max(best, float(d[k])), gx.ravel()[k], gy.ravel()[k]
            hx, hy = hx / 16, hy / 16
        return best

    @property
    def bounds_um(self) -> tuple[float, float, float, float]:
        """Bounding box (x_min, y_min, x_max, y_max), µm."""
        (x0, y0), (x1, y1) = self._xy.min(axis=0), self._xy.max(axis=0)
        return (float(x0), float(y0), float(x1), float(y1))

    def signed_distance_um(self, x_um, y_um) -> np.ndarray:
        # inside by the even-odd rule; the distance to the nearest edge, in chunks of points
        x, y = np.broadcast_arrays(np.asarray(x_um, float), np.asarray(y_um, float))
        px, py = x.ravel(), y.ravel()
        a = self._xy
        b = np.roll(a, -1, axis=0)
        e = b - a
        out = np.empty(px.size)
        step = max(1, _CHUNK // len(a))
        for k in range(0, px.size, step):
            qx, qy = px[k:k + step, None], py[k:k + step, None]
            t = np.clip(((qx - a[:, 0]) * e[:, 0] + (qy - a[:, 1]) * e[:, 1]) / np.sum(e * e, axis=1), 0, 1)
            dist = np.min(np.hypot(qx - a[:, 0] - t * e[:, 0], qy - a[:, 1] - t * e[:, 1]), axis=1)
            straddle = (a[:, 1] > qy) != (b[:, 1] > qy)
            with np.errstate(divide="ignore", invalid="ignore"):
                cross_x = a[:, 0] + (qy - a[:, 1]) * e[:, 0] / e[:, 1]
            inside = np.sum(straddle & (qx < cross_x), axis=1) % 2 == 1
            out[k:k + step] = np.where(inside, dist, -dist)
        return out.reshape(x.shape)

    def outline_um(self, n: int | None = None) -> np.ndarray:
        return self._xy

    def reach_um(self) -> float:
        return float(np.max(np.hypot(*self._xy.T)))

    def mapped(self, t_matrix: np.ndarray, t_shift: np.ndarray) -> Polygon:
        return Polygon(tuple((float(p[0]), float(p[1])) for p in self._xy @ np.asarray(t_matrix).T + t_shift))

    def edges_meet(self, other: Polygon) -> bool:
        """Whether any edge of this polygon meets (crosses or touches) an edge of another.

        Parameters
        ----------
        other : Polygon
            The other polygon.

        Returns
        -------
        bool
            True when two edges share a point.
        """
        a, b = self._xy, other._xy
        i, j = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
        a1, b1 = np.roll(a, -1, axis=0), np.roll(b, -1, axis=0)
        return bool(np.any(_segments_meet(a[i.ravel()], a1[i.ravel()], b[j.ravel()], b1[j.ravel()])))

    def to_dict(self) -> dict:
        return {"shape": "polygon", "vertices_um": [list(p) for p in self.vertices_um]}


Outline = Circle | Ellipse | Polygon


def disjoint(a: Outline, b: Outline) -> bool:
    """Whether two outlines are apart by a positive gap (touching is not disjoint).

    Parameters
    ----------
    a, b : Circle, Ellipse or Polygon
        The outlines.

    Returns
    -------
    bool
        True when their closed regions share no point.
    """
    if isinstance(a, Polygon) and isinstance(b, Polygon):
        # no edges meet, so each corner is strictly inside or outside the other polygon
        return not (a.edges_meet(b) or a.signed_distance_um(*b._xy[0]) > 0 or b.signed_distance_um(*a._xy[0]) > 0)
    if isinstance(a, Polygon):
        a, b = b, a
    t_matrix, t_shift = a.to_unit_disc()
    return bool(b.mapped(t_matrix, t_shift).signed_distance_um(0.0, 0.0) < -1)


def inside(a: Outline, b: Outline) -> bool:
    """Whether outline ``a`` lies strictly inside outline ``b`` (no common boundary point).

    Parameters
    ----------
    a, b : Circle, Ellipse or Polygon
        The inner and outer outline.

    Returns
    -------
    bool
        True when the closed region of ``a`` lies in the interior of ``b``.
    """
    if isinstance(a, Polygon):
        corners_in = bool(np.all(b.signed_distance_um(*a._xy.T) > 0))
        return corners_in and not (isinstance(b, Polygon) and a.edges_meet(b))  # round b is convex
    t_matrix, t_shift = a.to_unit_disc()
    return bool(b.mapped(t_matrix, t_shift).signed_distance_um(0.0, 0.0) > 1)
