"""Second-order tetrahedral finite-element functions as plain arrays, located and evaluated with Numba.

A solved field is kept without the mesh library: each element lists ten nodes, its four vertices and then the
midpoints of its edges 0-1, 0-2, 0-3, 1-2, 1-3, 2-3, with the nodes' positions under the element's (possibly
curved) quadratic map and the function's values there. With reference coordinates ξ = (λ0, λ1, λ2) and
λ3 = 1 − λ0 − λ1 − λ2 the shape functions are λi(2λi − 1) at the vertices and 4λiλj at the edges; position and
potential are both such quadratics on NGSolve's order-2 geometry, so the node values reproduce its second-order
solution exactly, and sampling needs neither NGSolve nor its mesh.

A point is found through a uniform grid of element bounding boxes (a curved element's box holds its Bézier
control points, so it holds the element) and Newton's method on the element map. Lengths in µm.
"""
from __future__ import annotations

import threading

import numpy as np
from numba import njit

EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
_REFERENCE = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]
                      + [[(a == k) / 2 + (b == k) / 2 for k in range(3)] for a, b in EDGES])  # ξ of the 10 nodes
INSIDE_TOL = 1e-11  # a point this far (in reference coordinates) outside an element still belongs to it (rounding)


@njit(cache=True)
def _shape(xi, n, dn):
    """Shape functions ``n`` (10) and their ξ-derivatives ``dn`` (10, 3) at ``xi``."""
    lam = (xi[0], xi[1], xi[2], 1.0 - xi[0] - xi[1] - xi[2])
    for i in range(4):
        n[i] = lam[i] * (2.0 * lam[i] - 1.0)
        for a in range(3):
            dn[i, a] = (4.0 * lam[i] - 1.0) * ((i == a) - (i == 3))  # dλ3/dξa = −1
    k = 4
    for i in range(4):
        for j in range(i + 1, 4):
            n[k] = 4.0 * lam[i] * lam[j]
            for a in range(3):
                dn[k, a] = 4.0 * (((i == a) - (i == 3)) * lam[j] + ((j == a) - (j == 3)) * lam[i])
            k += 1


@njit(cache=True)
def _solve3(m, r0, r1, r2):
    """m s = r for a 3×3 ``m``, by its adjugate."""
    a, b, c, d, e, f, g, h, i = m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2], m[2, 0], m[2, 1], m[2, 2]
    A, B, C = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * A + b * B + c * C
    return ((A * r0 + (c * h - b * i) * r1 + (b * f - c * e) * r2) / det,
            (B * r0 + (a * i - c * g) * r1 + (c * d - a * f) * r2) / det,
            (C * r0 + (b * g - a * h) * r1 + (a * e - b * d) * r2) / det)


@njit(cache=True)
def _element_xi(points, nodes, curved, p, xi, n, dn, jac):
    """Newton's method for X(ξ) = p on one element; ``xi`` receives ξ. Returns whether p lies in the element."""
    xi[:] = 0.25
    for _ in range(12):
        _shape(xi, n, dn)
        r0, r1, r2 = -p[0], -p[1], -p[2]
        jac[:] = 0.0
        for k in range(10):
            x = points[nodes[k]]
            r0 += n[k] * x[0]
            r1 += n[k] * x[1]
            r2 += n[k] * x[2]
            for c in range(3):
                for a in range(3):
                    jac[c, a] += dn[k, a] * x[c]
        s0, s1, s2 = _solve3(jac, r0, r1, r2)
        xi[0] -= s0
        xi[1] -= s1
        xi[2] -= s2
        if not curved or max(abs(s0), abs(s1), abs(s2)) < 1e-13:  # an affine map is solved by one step
            break
    return min(xi[0], xi[1], xi[2], 1.0 - xi[0] - xi[1] - xi[2]) >= -INSIDE_TOL


@njit(cache=True)
def _boxes(points, elements):
    """Which elements are curved (an edge node off its edge's centre), and bounding boxes (n_elements, 2, 3) of
    the elements' Bézier control points (an edge's is 2 m − (a + b) / 2)."""
    curved = np.zeros(elements.shape[0], dtype=np.bool_)
    out = np.empty((elements.shape[0], 2, 3))
    control = np.empty((10, 3))
    for e in range(elements.shape[0]):
        nodes = elements[e]
        scale = 0.0
        for c in range(3):
            scale = max(scale, abs(points[nodes[0], c] - points[nodes[3], c]))
        for k in range(10):
            for c in range(3):
                control[k, c] = points[nodes[k], c]
        for k in range(6):
            i, j = (0, 0, 0, 1, 1, 2)[k], (1, 2, 3, 2, 3, 3)[k]
            for c in range(3):
                off = points[nodes[4 + k], c] - 0.5 * (points[nodes[i], c] + points[nodes[j], c])
                control[4 + k, c] += off
                if abs(off) > 1e-12 * scale:
                    curved[e] = True
        for c in range(3):
            out[e, 0, c] = control[:, c].min()
            out[e, 1, c] = control[:, c].max()
    return curved, out


@njit(cache=True)
def _fill_grid(boxes, origin, cell, dims):
    """Elements by grid cell: (start offsets per cell, element indices)."""
    first = np.empty((boxes.shape[0], 2, 3), dtype=np.int64)
    count = np.zeros(dims[0] * dims[1] * dims[2] + 1, dtype=np.int64)
    for e in range(boxes.shape[0]):
        for s in range(2):
            for c in range(3):
                first[e, s, c] = min(max(int((boxes[e, s, c] - origin[c]) / cell), 0), dims[c] - 1)
        for i in range(first[e, 0, 0], first[e, 1, 0] + 1):
            for j in range(first[e, 0, 1], first[e, 1, 1] + 1):
                for k in range(first[e, 0, 2], first[e, 1, 2] + 1):
                    count[(i * dims[1] + j) * dims[2] + k + 1] += 1
    start = np.cumsum(count)
    fill = start[:-1].copy()
    members = np.empty(start[-1], dtype=np.int32)
    for e in range(boxes.shape[0]):
        for i in range(first[e, 0, 0], first[e, 1, 0] + 1):
            for j in range(first[e, 0, 1], first[e, 1, 1] + 1):
                for k in range(first[e, 0, 2], first[e, 1, 2] + 1):
                    c = (i * dims[1] + j) * dims[2] + k
                    members[fill[c]] = e
                    fill[c] += 1
    return start, members


@njit(cache=True, nogil=True)
def _locate(points, elements, curved, boxes, origin, cell, dims, start, members, query, found, xi_out):
    """Element (−1 if none) and ξ of every query point; tries the previous point's element first."""
    xi, n, dn, jac = np.empty(3), np.empty(10), np.empty((10, 3)), np.empty((3, 3))
    last = -1
    for q in range(query.shape[0]):
        p = query[q]
        found[q] = -1
        if last >= 0 and _element_xi(points, elements[last], curved[last], p, xi, n, dn, jac):
            found[q] = last
        else:
            i = int(np.floor((p[0] - origin[0]) / cell))
            j = int(np.floor((p[1] - origin[1]) / cell))
            k = int(np.floor((p[2] - origin[2]) / cell))
            if 0 <= i < dims[0] and 0 <= j < dims[1] and 0 <= k < dims[2]:
                c = (i * dims[1] + j) * dims[2] + k
                for m in range(start[c], start[c + 1]):
                    e = members[m]
                    b = boxes[e]
                    if b[0, 0] <= p[0] <= b[1, 0] and b[0, 1] <= p[1] <= b[1, 1] and b[0, 2] <= p[2] <= b[1, 2] and \
                            _element_xi(points, elements[e], curved[e], p, xi, n, dn, jac):
                        found[q] = e
                        break
        if found[q] >= 0:
            last = found[q]
            xi_out[q] = xi


@njit(cache=True, nogil=True)
def _evaluate(elements, values, weights, found, xi_in, out):
    """Σ_b weights[b] · values[b] at located points."""
    n, dn = np.empty(10), np.empty((10, 3))
    for q in range(found.shape[0]):
        _shape(xi_in[q], n, dn)
        s = 0.0
        for k in range(10):
            node = elements[found[q], k]
            for b in range(values.shape[0]):
                s += weights[b] * n[k] * values[b, node]
        out[q] = s


class P2Mesh:
    """Second-order tetrahedra as arrays (module docstring), with a point locator built on first use.

    Parameters
    ----------
    points_um : ndarray
        (n_nodes, 3) node positions (µm).
    elements : ndarray
        (n_elements, 10) node indices: vertices 0-3, then edges 0-1, 0-2, 0-3, 1-2, 1-3, 2-3.
    """

    def __init__(self, points_um: np.ndarray, elements: np.ndarray) -> None:
        self.points_um = np.ascontiguousarray(points_um, dtype=float)
        self.elements = np.ascontiguousarray(elements, dtype=np.int32)
        self._grid = None
        self._lock = threading.Lock()

    def _locator(self):
        with self._lock:  # built once, on first use, even when threads sample together
            if self._grid is not None:
                return self._grid
            curved, boxes = _boxes(self.points_um, self.elements)
            lo, hi = boxes[:, 0].min(axis=0), boxes[:, 1].max(axis=0)
            # cells twice the typical element: on the Yoo mesh ~6 cells per element, 2.4 µs per random point
            # (0.16 µs along a fibre, where the previous point's element usually holds the next)
            cell = 2 * float(np.median((boxes[:, 1] - boxes[:, 0]).max(axis=1)))
            cell *= max(1.0, (np.prod((hi - lo) / cell) / (8 * len(boxes))) ** (1 / 3))  # <= 8 cells per element
            dims = np.ceil((hi - lo) / cell).astype(np.int64) + 1
            self._grid = (curved, boxes, lo, cell, dims, *_fill_grid(boxes, lo, cell, dims))
            return self._grid

    def locate(self, points_um: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Element and reference coordinates of each point.

        Parameters
        ----------
        points_um : ndarray
            (n, 3) positions (µm).

        Returns
        -------
        tuple of ndarray
            Element index per point (−1 where no element holds it) and ξ, shape (n, 3).
        """
        query = np.ascontiguousarray(points_um, dtype=float).reshape(-1, 3)
        found, xi = np.empty(len(query), dtype=np.int64), np.zeros((len(query), 3))
        _locate(self.points_um, self.elements, *self._locator(), query, found, xi)
        return found, xi

    def evaluate(self, values: np.ndarray, weights: np.ndarray, found: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """Σ_b w_b f_b at located points.

        Parameters
        ----------
        values : ndarray
            (n_bases, n_nodes) node values of each function.
        weights : ndarray
            One per function.
        found, xi : ndarray
            From `locate` (every point found).

        Returns
        -------
        ndarray
            One value per point.
        """
        out = np.empty(len(found))
        _evaluate(self.elements, values, np.asarray(weights, dtype=float), found, xi, out)
        return out


def from_ngsolve(mesh, functions, inside) -> tuple[P2Mesh, np.ndarray]:
    """Node positions and values of NGSolve functions on an (order ≤ 2) mesh.

    Parameters
    ----------
    mesh : ngsolve.Mesh
        Lengths in mm, curved to order ≤ 2.
    functions : sequence of ngsolve.CoefficientFunction
        Each of polynomial order ≤ 2 on every element.
    inside : callable
        ``inside(material) -> bool``: elements where it holds get their own nodes, so a function may jump across
        the faces between them and the others (the perineurium).

    Returns
    -------
    tuple
        (`P2Mesh`, values of shape (len(functions), n_nodes)).
    """
    import ngsolve as ng

    table = mesh.ngmesh.Elements3D().NumPy()
    vertices = table["nodes"][:, :4].astype(np.int64) - 1
    materials = mesh.GetMaterials()
    side = np.array([inside(m) for m in materials], dtype=np.int64)[table["index"] - 1]
    nv, ne = len(mesh.ngmesh.Points()), len(vertices)
    a = vertices[:, [i for i, _ in EDGES]]
    b = vertices[:, [j for _, j in EDGES]]
    _, edge = np.unique(np.minimum(a, b) * nv + np.maximum(a, b), return_inverse=True)
    keys = np.concatenate([2 * vertices + side[:, None], 2 * nv + 2 * edge.reshape(ne, 6) + side[:, None]], axis=1)
    unique, elements = np.unique(keys, return_inverse=True)
    elements = elements.reshape(ne, 10)
    points = np.empty((len(unique), 3))
    values = np.empty((len(functions), len(unique)))
    xyz = ng.CF((ng.x, ng.y, ng.z))
    template = mesh(*mesh.ngmesh.Coordinates()[:1].T)  # any point: supplies the mesh pointer
    for e0 in range(0, ne, 100_000):  # 1e6 mesh points at a time
        e1 = min(e0 + 100_000, ne)
        mp = np.zeros((e1 - e0) * 10, dtype=template.dtype)
        mp["meshptr"], mp["facetnr"] = template["meshptr"][0], -1
        mp["nr"] = np.repeat(np.arange(e0, e1), 10)
        mp["x"], mp["y"], mp["z"] = np.tile(_REFERENCE, (e1 - e0, 1)).T
        nodes = elements[e0:e1].ravel()
        points[nodes] = np.asarray(xyz(mp)).reshape(-1, 3) * 1e3
        for f, fn in enumerate(functions):
            values[f, nodes] = np.asarray(fn(mp)).ravel()
    return P2Mesh(points, elements), values
