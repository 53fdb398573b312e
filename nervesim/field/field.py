"""A solved volume-conductor field as data: per-contact solutions, the spec, its hash, versions, mesh
size and times, in one ``.npz`` file, cached in ``cache_root()/fields`` by the spec hash.

The solutions are stored as second-order tetrahedra with their node positions and values
(`nervesim.field.p2`): plain arrays, read without NGSolve and sampled with Numba.
"""
from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..cache import cache_root
from ..errors import ParameterError
from .p2 import P2Mesh
from .spec import FieldSpec

FILE_FORMAT = 2  # 1: a pickled netgen mesh and NGSolve coefficients


def field_cache_dir() -> Path:
    """Where solved fields are cached.

    Returns
    -------
    Path
        ``cache_root()/fields`` (not created here).
    """
    return cache_root() / "fields"


class Field:
    """Per-contact potentials (mV per mA) of a `FieldSpec`, ready to sample at fibre sections (§6).

    Made by `solve_field`, `Field.from_solution` or `Field.load`.

    Parameters
    ----------
    spec : FieldSpec
        The model.
    mesh : P2Mesh
        Its second-order elements (µm).
    values : ndarray
        Potentials at the mesh nodes, one row per basis (contact), in mV per mA.
    info : dict
        ``spec_hash``, ``versions``, ``elements``, ``unknowns``, ``min_quality``
        (`nervesim.field.mesh.element_quality`), ``mesh_s``, ``solve_s``, ``peak_rss_MB``, ``estimate``
        (`nervesim.field.mesh.estimate_size` before meshing).
    """

    def __init__(self, spec: FieldSpec, mesh: P2Mesh, values: np.ndarray, info: dict) -> None:
        self.spec = spec
        self.mesh = mesh
        self.info = info
        self.ngsolve_mesh = None  # the NGSolve mesh, when the field was solved in this process (not kept in files)
        self._values = np.ascontiguousarray(values, dtype=float)
        if self._values.shape != (len(spec.sources_um()), len(mesh.points_um)):
            raise ParameterError("field", f"field: {self._values.shape} potentials do not match the mesh "
                                          f"({len(spec.sources_um())} x {len(mesh.points_um)}); the file is damaged")

    @classmethod
    def from_solution(cls, spec: FieldSpec, mesh, vectors: np.ndarray, info: dict) -> Field:
        """A field from NGSolve coefficients (needs ngsolve).

        Parameters
        ----------
        spec : FieldSpec
            The model.
        mesh : ngsolve.Mesh
            Its mesh (mm), from `nervesim.field.mesh.build_mesh`.
        vectors : ndarray
            Coefficients on `nervesim.field.solve.make_space`, one row per basis, in mV per mA.
        info : dict
            As for `Field`.

        Returns
        -------
        Field
            Potentials at the second-order nodes, each side of a perineurium apart.
        """
        import ngsolve as ng

        from .p2 import from_ngsolve
        from .solve import layered, make_space, potential_cf

        space = make_space(mesh, spec)
        functions = []
        for v in np.asarray(vectors, dtype=float):
            gf = ng.GridFunction(space)
            gf.vec.FV().NumPy()[:] = v
            functions.append(potential_cf(mesh, spec, gf))
        p2, values = from_ngsolve(mesh, functions, lambda m: layered(spec) and m.startswith("endo_"))
        field = cls(spec, p2, values, info)
        field.ngsolve_mesh = mesh
        return field

    @property
    def n_contacts(self) -> int:
        """Number of bases: the point contacts, then the cuff contacts."""
        return len(self.spec.sources_um())

    def _weights(self, weights: Sequence[float] | None) -> np.ndarray:
        if weights is None:
            if self.n_contacts != 1:
                raise ParameterError("weights", f"weights: the field has {self.n_contacts} contacts; give one "
                                                "weight per contact")
            return np.ones(1)
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape != (self.n_contacts,) or not np.all(np.isfinite(w)):
            raise ParameterError("weights", f"weights={list(np.atleast_1d(weights))}: give {self.n_contacts} finite "
                                            "numbers, one per contact in spec order")
        return w

    def sample(self, x_um, y_um, z_um, weights: Sequence[float] | None = None) -> np.ndarray:
        """Potential at points: Σ_c w_c φ_c, the bases superposed (§1).

        Parameters
        ----------
        x_um, y_um, z_um : array_like
            Point coordinates (µm), broadcast together.
        weights : sequence of float, optional
            One weight per basis (contact); default [1] for a one-contact field.

        Returns
        -------
        ndarray
            Potential (mV per mA of unit-weight current), flattened.
        """
        w = self._weights(weights)
        x, y, z = (np.broadcast_to(np.asarray(v, float), np.broadcast(x_um, y_um, z_um).shape).ravel()
                   for v in (x_um, y_um, z_um))
        s = self.spec
        outside = (np.hypot(x, y) > s.medium_radius_um) | (z < 0) | (z > s.medium_length_um)
        if np.any(outside):
            k = int(np.flatnonzero(outside)[0])
            name = "x_um" if 0 <= z[k] <= s.medium_length_um else "z_um"
            raise ParameterError(name, f"point ({x[k]:g}, {y[k]:g}, {z[k]:g}) um lies outside the medium cylinder "
                                       f"(radius {s.medium_radius_um:g} um, z in [0, {s.medium_length_um:g}] um)")
        found, xi = self.mesh.locate(np.stack([x, y, z], axis=1))
        if np.any(found < 0):
            k = int(np.flatnonzero(found < 0)[0])
            raise ParameterError("x_um", f"point ({x[k]:g}, {y[k]:g}, {z[k]:g}) um lies in no element: inside the "
                                         "cuff's insulator, which is meshed as a void; sample elsewhere")
        return self.mesh.evaluate(self._values, w, found, xi)

    def section_z_um(self, fibre, fibre_z_um: float | None = None) -> np.ndarray:
        """z of each section centre of ``fibre`` placed in the model.

        Parameters
        ----------
        fibre : Fibre
            The fibre.
        fibre_z_um : float, optional
            z (µm) of its centre node; default the model's mid-length.

        Returns
        -------
        ndarray
            Section-centre z (µm), all inside the model.
        """
        zc = self.spec.medium_length_um / 2 if fibre_z_um is None else float(fibre_z_um)
        if not np.isfinite(zc):
            raise ParameterError("fibre_z_um", f"fibre_z_um={fibre_z_um}: must be finite")
        return self._placed_z_um(fibre, zc - fibre.z_um[fibre.node_sections[fibre.centre_node]])

    def _placed_z_um(self, fibre, origin_z_um: float) -> np.ndarray:
        """Section-centre z of ``fibre`` with its own z origin at model z ``origin_z_um``, checked to lie inside."""
        z = origin_z_um + fibre.z_um
        if z[0] < 0 or z[-1] > self.spec.medium_length_um:
            centre = z[fibre.node_sections[fibre.centre_node]]
            raise ParameterError("fibre_z_um", f"fibre_z_um={centre:g}: the fibre spans z = {z[0]:g} to {z[-1]:g} "
                                               f"um, outside the model (0 to {self.spec.medium_length_um:g} um); "
                                               "use fewer nodes or move it")
        return z

    def check_inside(self, x_um, y_um, diameter_um: float = 0.0) -> None:
        """Refuse fibres not wholly inside one fascicle's endoneurium.

        Parameters
        ----------
        x_um, y_um : array_like
            Fibre axes in the cross-section (µm).
        diameter_um : float, optional
            Fibre diameter (µm): the axis must lie farther than the fibre radius from the fascicle's boundary
            (exact distance to the circle, ellipse or polygon).

        Raises
        ------
        ParameterError
            (``x_um``) naming the first fibre outside, and the fix.
        """
        x, y = np.asarray(x_um, float).ravel(), np.asarray(y_um, float).ravel()
        inside = np.zeros(x.size, dtype=bool)
        for f in self.spec.fascicles:
            inside |= f.contains(x, y, diameter_um / 2)
        if not np.all(inside):
            k = int(np.flatnonzero(~inside)[0])
            raise ParameterError("x_um", f"fibre at ({x[k]:g}, {y[k]:g}) um (diameter {diameter_um:g} um) is not "
                                         "wholly inside any fascicle; place it inside one, or allow epineurial fibres")

    def potentials(self, fibre, x_um: float, y_um: float, weights: Sequence[float] | None = None,
                   fibre_z_um: float | None = None, *, epineurial: bool = False) -> np.ndarray:
        """Potentials at the section centres of ``fibre`` placed at (``x_um``, ``y_um``) (§6).

        Parameters
        ----------
        fibre : Fibre
            The fibre.
        x_um, y_um : float
            Its place in the cross-section (µm).
        weights : sequence of float, optional
            One per basis in spec order, e.g. [1, -1] for a bipolar pair; default [1] for one contact.
        fibre_z_um : float, optional
            z (µm) of its centre node; default the model's mid-length.
        epineurial : bool, optional
            Allow a fibre outside every fascicle (by default it must lie wholly inside one, `check_inside`).

        Returns
        -------
        ndarray
            mV per mA, one per section: what `nervesim.Stimulation` and `nervesim.find_threshold` take as
            ``electrode``.
        """
        return self.potentials_many(fibre, [x_um], [y_um], weights, fibre_z_um, epineurial=epineurial)[0]

    def potentials_many(self, fibre, x_um, y_um, weights: Sequence[float] | None = None,
                        fibre_z_um: float | None = None, *, epineurial: bool = False) -> np.ndarray:
        """`potentials` for many fibres of one kind, in one evaluation.

        Parameters
        ----------
        fibre : Fibre
            The fibre (all share its sections).
        x_um, y_um : array_like
            Places in the cross-section (µm), one pair per fibre.
        weights : sequence of float, optional
            One per basis in spec order; default [1] for one contact.
        fibre_z_um : float, optional
            z (µm) of the centre nodes; default the model's mid-length.
        epineurial : bool, optional
            Allow fibres outside every fascicle (by default each must lie wholly inside one, `check_inside`).

        Returns
        -------
        ndarray
            mV per mA, shape (n_fibres, n_sections).
        """
        x, y = np.asarray(x_um, float).ravel(), np.asarray(y_um, float).ravel()
        if x.shape != y.shape:
            raise ParameterError("y_um", f"y_um: {y.size} values for {x.size} x_um values; give one per fibre")
        for name, v in (("x_um", x), ("y_um", y)):
            if not np.all(np.isfinite(v)):
                raise ParameterError(name, f"{name}={v[~np.isfinite(v)][0]}: must be finite")
        if not epineurial:
            self.check_inside(x, y, fibre.diameter_um)
        z = self.section_z_um(fibre, fibre_z_um)
        shape = (x.size, z.size)
        return self.sample(np.broadcast_to(x[:, None], shape), np.broadcast_to(y[:, None], shape),
                           np.broadcast_to(z, shape), weights).reshape(shape)

    def electrode(self, weights: Sequence[float] | None = None, fibre_z_um: float | None = None, *,
                  epineurial: bool = False) -> FieldElectrode:
        """The weighted field as an electrode, in a frame whose z axis is the nerve's axis (x, y as in the spec)
        and whose z = 0 is the model's z = ``fibre_z_um``; place fibres with ``relative_to`` as with
        `nervesim.Electrode` (e.g. in `nervesim.analyses.recruitment`).

        Parameters
        ----------
        weights : sequence of float, optional
            One per basis in spec order; default [1] for one contact.
        fibre_z_um : float, optional
            Model z (µm) of the frame's origin; default the model's mid-length.
        epineurial : bool, optional
            Allow fibres outside every fascicle.

        Returns
        -------
        FieldElectrode
            With a fibre's own z origin at the frame's z = 0 on the nerve axis.
        """
        zc = self.spec.medium_length_um / 2 if fibre_z_um is None else float(fibre_z_um)
        if not np.isfinite(zc):
            raise ParameterError("fibre_z_um", f"fibre_z_um={fibre_z_um}: must be finite")
        return FieldElectrode(self, tuple(self._weights(weights)), 0.0, 0.0, zc, epineurial)

    def threshold_jobs(self, model: str, population, waveform, weights: Sequence[float] | None = None, *,
                       fibre_z_um: float | None = None, dt_ms: float | None = None, epineurial: bool = False) -> list:
        """One threshold search per fibre of a population, each fibre fitted to the model (`fitted_fibre`), as
        `nervesim.analyses.recruitment` places them in a field but with the potentials sampled once.

        Parameters
        ----------
        model : str
            Fibre model name.
        population : nervesim.analyses.FibrePopulation
            Places (µm) in the model's cross-section, diameters (µm) and node phases (in internodes; the centre
            node sits at ``fibre_z_um`` + phase × internode).
        waveform : Waveform
            Unit-amplitude waveform.
        weights : sequence of float, optional
            One per basis in spec order; default [1] for one contact.
        fibre_z_um : float, optional
            Model z (µm) of the centre nodes at phase 0; default the model's mid-length.
        dt_ms : float, optional
            Time step (ms); default nervesim's.
        epineurial : bool, optional
            Allow fibres outside every fascicle.

        Returns
        -------
        list of nervesim.population.ThresholdJob
            With the potentials sampled; run them with `nervesim.population.find_thresholds` (swap the waveform
            with ``dataclasses.replace`` for another pulse: the potentials stay).
        """
        from ..population import ThresholdJob
        from ..simulation import DEFAULT_DT_MS

        zc = self.spec.medium_length_um / 2 if fibre_z_um is None else float(fibre_z_um)
        phases = np.zeros(len(population.x_um)) if population.z_offset_um is None else population.z_offset_um
        jobs = []
        for x, y, d, phase in zip(population.x_um, population.y_um, population.diameter_um, phases):
            fibre = self.fitted_fibre(model, float(d))
            ve = self.potentials(fibre, x, y, weights, zc + phase * fibre.node_spacing_um, epineurial=epineurial)
            jobs.append(ThresholdJob(model, float(d), ve, waveform, n_nodes=fibre.n_nodes,
                                     dt_ms=DEFAULT_DT_MS if dt_ms is None else dt_ms))
        return jobs

    def fitted_fibre(self, model: str, diameter_um: float):
        """ASCENT's fibre for this model (`fitting_fibre`: whole internodes) one internode shorter at each end, so
        that a node phase below one internode keeps it inside.

        Parameters
        ----------
        model : str
            Fibre model name.
        diameter_um : float
            Fibre diameter (µm).

        Returns
        -------
        Fibre
            The fibre.
        """
        from ..fibre import node_spacing_um

        spacing = node_spacing_um(model, diameter_um)
        return fitting_fibre(model, diameter_um, self.spec.medium_length_um - 2 * spacing)

    def fibre_places(self, diameters_um, per_fascicle: int | None = None, seed: int = 0) -> tuple[np.ndarray, ...]:
        """Fibre axes placed per fascicle: each fascicle's area centroid, or ``per_fascicle`` fibres uniform in each
        fascicle's endoneurium shrunk by the fibre's radius (points uniform over the fascicle's bounding box, kept
        when the fibre lies wholly inside: `check_inside` accepts every one).

        Parameters
        ----------
        diameters_um : (float, float)
            Fibre diameter range LO, HI (µm); diameters are drawn uniformly from it.
        per_fascicle : int, optional
            Random fibres per fascicle; default one at each centroid.
        seed : int, optional
            Random seed (diameters, places, node phases).

        Returns
        -------
        tuple of ndarray
            x_um, y_um, diameter_um, and the node phase in internodes (uniform in [0, 1)), one per fibre.
        """
        lo, hi = (float(d) for d in diameters_um)
        n = 1 if per_fascicle is None else per_fascicle
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ParameterError("per_fascicle", f"per_fascicle={per_fascicle}: give a positive whole number")
        rng = _rng(seed)
        fascicles = self.spec.fascicles
        narrowest = min(2 * f.inradius_um for f in fascicles)
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi < narrowest):
            raise ParameterError("diameters_um", f"diameters_um=({lo:g}, {hi:g}): give LO, HI with 0 < LO <= HI < "
                                                 f"the widest fibre the narrowest fascicle holds ({narrowest:g} um)")
        m = n * len(fascicles)
        d = rng.uniform(lo, hi, m)
        if per_fascicle is None:
            cx, cy = np.repeat([f.centroid_um for f in fascicles], n, axis=0).T
            return cx, cy, d, rng.uniform(0, 1, m)
        x, y = np.empty(m), np.empty(m)
        for k, f in enumerate(fascicles):
            for j in range(k * n, (k + 1) * n):
                x[j], y[j] = _place(f, k, d[j], rng)
        return x, y, d, rng.uniform(0, 1, m)

    def places_by_area(self, diameters_um, seed: int = 0) -> tuple[np.ndarray, ...]:
        """Fibres of given diameters spread over the nerve's endoneurium: each in a fascicle drawn with probability
        proportional to its area (among those wide enough for it), uniform inside it and wholly inside
        (`check_inside` accepts every one).

        Parameters
        ----------
        diameters_um : array_like
            One diameter (µm) per fibre.
        seed : int, optional
            Random seed (fascicles, places, node phases).

        Returns
        -------
        tuple of ndarray
            x_um, y_um, the fascicle index, and the node phase in internodes (uniform in [0, 1)), one per fibre.
        """
        d = np.asarray(diameters_um, float).ravel()
        if d.size == 0 or not np.all(np.isfinite(d) & (d > 0)):
            raise ParameterError("diameters_um", "diameters_um: give one finite positive diameter (um) per fibre")
        rng = _rng(seed)
        fascicles = self.spec.fascicles
        area = np.array([f.area_um2 for f in fascicles])
        width = np.array([2 * f.inradius_um for f in fascicles])
        if d.max() >= width.max():
            raise ParameterError("diameters_um", f"diameters_um: a {d.max():g} um fibre fits no fascicle (the widest "
                                                 f"holds < {width.max():g} um); give smaller diameters")
        x, y, k = np.empty(d.size), np.empty(d.size), np.empty(d.size, dtype=int)
        for j, dj in enumerate(d):
            weight = np.where(width > dj, area, 0.0)
            k[j] = rng.choice(len(fascicles), p=weight / weight.sum())
            x[j], y[j] = _place(fascicles[k[j]], k[j], dj, rng)
        return x, y, k, rng.uniform(0, 1, d.size)

    # ---- files ------------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the field to a ``.npz`` file, atomically.

        Parameters
        ----------
        path : str or Path
            Destination (parent directories are created).

        Returns
        -------
        Path
            ``path``.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FILE_FORMAT, "spec": self.spec.to_dict(), "info": self.info}
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        os.close(fd)
        # uncompressed: a Yoo-sized field (1.5 M nodes) reads in ~0.1 s instead of ~1 s
        np.savez(tmp, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), points_um=self.mesh.points_um,
                 elements=self.mesh.elements, values=self._values)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a field file is data to share
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Field:
        """Read a field written by `save`.

        Parameters
        ----------
        path : str or Path
            The ``.npz`` file.

        Returns
        -------
        Field
            The field, ready to sample.
        """
        path = Path(path)
        if not path.is_file():
            raise ParameterError("field", f"field {path}: no such file; make one with solve_field / nervesim field")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes())
                arrays = {k: data[k] for k in ("points_um", "elements", "values")} \
                    if meta.get("format") == FILE_FORMAT else None
        except (OSError, ValueError, KeyError) as exc:
            raise ParameterError("field", f"field {path}: not a nervesim field file ({exc})") from None
        if arrays is None:
            raise ParameterError("field", f"field {path}: format {meta.get('format')} is not {FILE_FORMAT}; solve the "
                                          "spec again (nervesim field SPEC)")
        mesh = P2Mesh(arrays["points_um"], arrays["elements"])
        return cls(FieldSpec.from_dict(meta["spec"]), mesh, arrays["values"], meta["info"])


def _rng(seed) -> np.random.Generator:
    """The random generator of a placement, after checking its seed."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError("seed", f"seed={seed}: the random seed must be a non-negative integer")
    return np.random.default_rng(seed)


def _place(fascicle, index: int, diameter_um: float, rng) -> tuple[float, float]:
    """A point uniform in ``fascicle`` where a fibre of ``diameter_um`` lies wholly inside (rejection sampling over
    its bounding box)."""
    x0, y0, x1, y1 = fascicle.bounds_um
    for _ in range(1000):  # acceptance >= 1 % unless the fibre barely fits (then refused below)
        px, py = rng.uniform(x0, x1, 256), rng.uniform(y0, y1, 256)
        ok = np.flatnonzero(fascicle.contains(px, py, diameter_um / 2))
        if ok.size:
            return float(px[ok[0]]), float(py[ok[0]])
    raise ParameterError("diameters_um", f"diameters_um: a {diameter_um:g} um fibre found no place in "
                                         f"fascicle[{index}]; give smaller diameters")


class FieldElectrode:
    """A solved field with contact weights, seen from a fibre on its frame's z axis: what `nervesim.Stimulation`
    takes as ``electrode`` (`Field.electrode` makes one).

    Parameters
    ----------
    field : Field
        The solved field.
    weights : tuple of float
        One per basis.
    x_um, y_um : float
        The fibre axis in the model's cross-section (µm).
    origin_z_um : float
        Model z (µm) of the fibre's own z origin.
    epineurial : bool
        Allow fibres outside every fascicle.
    """

    def __init__(self, field: Field, weights: tuple[float, ...], x_um: float, y_um: float, origin_z_um: float,
                 epineurial: bool = False) -> None:
        self.field, self.weights, self.epineurial = field, weights, epineurial
        self.x_um, self.y_um, self.origin_z_um = float(x_um), float(y_um), float(origin_z_um)

    def relative_to(self, x_um: float, y_um: float, z_um: float = 0.0) -> FieldElectrode:
        """The same field seen from another fibre, as `nervesim.Electrode.relative_to`.

        Parameters
        ----------
        x_um, y_um : float
            Where that fibre's axis passes (µm, in this electrode's frame).
        z_um : float, optional
            Where that fibre's z origin lies (µm, in this electrode's frame).

        Returns
        -------
        FieldElectrode
            The moved electrode.
        """
        return FieldElectrode(self.field, self.weights, self.x_um + x_um, self.y_um + y_um, self.origin_z_um + z_um,
                              self.epineurial)

    def fitted_fibre(self, model: str, diameter_um: float):
        """`Field.fitted_fibre` of this electrode's field.

        Parameters
        ----------
        model : str
            Fibre model name.
        diameter_um : float
            Fibre diameter (µm).

        Returns
        -------
        Fibre
            The fibre that fits the model with room for a node phase.
        """
        return self.field.fitted_fibre(model, diameter_um)

    def check_fibre(self, diameter_um: float) -> None:
        """Refuse a fibre not wholly inside a fascicle (unless epineurial), or at a non-finite place.

        Parameters
        ----------
        diameter_um : float
            Diameter (µm) of the fibre on this frame's z axis.

        Raises
        ------
        ParameterError
            (``x_um``) for a fibre outside every fascicle.
        """
        for name, v in (("x_um", self.x_um), ("y_um", self.y_um), ("fibre_z_um", self.origin_z_um)):
            if not np.isfinite(v):
                raise ParameterError(name, f"{name}={v}: must be finite")
        if not self.epineurial:
            self.field.check_inside(self.x_um, self.y_um, diameter_um)

    def potentials(self, fibre) -> np.ndarray:
        """Potentials (mV per mA) at the section centres of ``fibre`` (§6).

        Parameters
        ----------
        fibre : Fibre
            The fibre, on this frame's z axis.

        Returns
        -------
        ndarray
            One per section.
        """
        self.check_fibre(fibre.diameter_um)
        z = self.field._placed_z_um(fibre, self.origin_z_um)
        return self.field.sample(np.full(z.size, self.x_um), np.full(z.size, self.y_um), z, self.weights)


_LOADED: dict[tuple, Field] = {}


def load_field(path: str | Path) -> Field:
    """`Field.load`, read once per process while the file is unchanged (path, size and modification time).

    Parameters
    ----------
    path : str or Path
        The ``.npz`` field file.

    Returns
    -------
    Field
        The field (shared: do not modify).
    """
    path = Path(path)
    try:
        st = path.resolve().stat()
    except OSError:
        return Field.load(path)  # raises the ParameterError naming the missing file
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _LOADED:
        _LOADED[key] = Field.load(path)
    return _LOADED[key]


def fitting_fibre(model: str, diameter_um: float, length_um: float):
    """The fibre ASCENT places in a model (§7): whole internodes, floor(L/ΔZ) + 1 nodes, one fewer if even so
    a node sits at the centre.

    Parameters
    ----------
    model : str
        Fibre model name (``mrg-interp``, ...).
    diameter_um : float
        Fibre diameter (µm).
    length_um : float
        Model length (µm).

    Returns
    -------
    Fibre
        The longest such fibre that fits.
    """
    from ..fibre import build_fibre

    return build_fibre(model, diameter_um, length_um=length_um)  # the same rule as any fibre given by its length


def _versions() -> dict:
    import ngsolve

    from .. import __version__

    return {"nervesim": __version__, "ngsolve": ngsolve.__version__}


def solve_field(spec: FieldSpec, *, cache: bool = True, boundary_mV: Callable | None = None,
                max_memory_GB: float | None = None) -> Field:
    """Mesh and solve ``spec``: one basis per contact at 1 mA (§1); cached by the spec hash.

    Parameters
    ----------
    spec : FieldSpec
        The model.
    cache : bool, optional
        Reuse / store ``field_cache_dir()/<hash>.npz`` (default True).
    boundary_mV : callable, optional
        Tests only: ``f(x_um, y_um, z_um)`` (arithmetic only, it gets ngsolve coordinates), the potential (mV per
        mA) on the outer surface instead of ground (§8.9); such fields are not cached.
    max_memory_GB : float, optional
        Refuse (ParameterError, before meshing) a model estimated above it; default the memory available now
        (`nervesim.field.mesh.estimate_size`).

    Returns
    -------
    Field
        The solved (or cached) field.
    """
    from .mesh import build_mesh, check_size, element_quality
    from .solve import solve_loads

    key = spec.hash()
    path = field_cache_dir() / f"{key}.npz"
    use_cache = cache and boundary_mV is None
    if use_cache and path.is_file():
        try:
            return Field.load(path)
        except ParameterError:  # written by an older nervesim, or damaged: solve again and replace it
            pass
    estimate = check_size(spec, max_memory_GB)
    t0 = time.perf_counter()
    mesh = build_mesh(spec)
    t_mesh = time.perf_counter() - t0
    loads = [[(p, 1.0)] for p in spec.sources_um()]
    fes, vectors = solve_loads(mesh, spec, loads, boundary_mV=boundary_mV)
    field = Field.from_solution(spec, mesh, vectors * 1e3, {})
    field.info |= {"spec_hash": key, "versions": _versions(), "elements": mesh.ne, "unknowns": fes.ndof,
                   "min_quality": round(float(element_quality(mesh).min()), 4),
                   "mesh_s": round(t_mesh, 3), "solve_s": round(time.perf_counter() - t0 - t_mesh, 3),
                   "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                   "estimate": estimate}
    if use_cache:
        field.save(path)
    return field
