"""A fibre model's active membrane: its mechanisms, their parameters, ions, and the generated kernels.

The mechanisms a fibre model inserts into its active sections (``[membrane]`` of the model file) are
combined into one `Membrane`. Its per-section state lives in one float vector (``st``: every
mechanism's states and frozen values, then per ion its reversal potential, inside and outside
concentration and current), its parameters in another (``par``: every mechanism's parameters, per
ion the fixed values, the section diameter, then any rate tables). `Membrane.kernels` writes the
Numba source of the functions over these vectors (and ``membrane_currents_all`` and ``membrane_states_all``
over every section, one column each, in vectorised loops where the mechanisms allow) and imports it from the cache
directory; `Membrane.cable_kernels` appends the cable solver template (``nervesim/_cable.py``) for one kind
of cable, so each model gets compiled kernels in which the membrane is inlined, and Numba caches them
across processes.

Units are NEURON's: mV, ms, S/cm², mA/cm², mM, µm, °C.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from types import ModuleType
from typing import Any

import numba
import numpy as np

from .cache import cache_root
from .errors import ParameterError
from .mechanism import (
    FARADAY,
    GAS_CONSTANT,
    ION_QUANTITIES,
    IONS,
    Expression,
    Mechanism,
    ion_names,
    load_mechanism,
    mechanism_names,
)

#: NEURON's voltage increment for the membrane conductance (I(v + 0.001) − I(v)) / 0.001 (mV).
DV_SLOPE_MV = 0.001

#: Most rates plus states in one vectorised loop of the state update (mechanisms are grouped into loops up to
#: this size): MRG has 12, Sundt 14; Tigerholm's 47 in one loop took LLVM over ten minutes to compile.
MAX_VECTOR_STATEMENTS = 16


class FrozenDict(dict):
    """A dict that refuses every change once built.

    Fibres and membranes keep their parameters in one: simulations share what they build from them
    (`nervesim.simulation`), and a change would leave that stale. Pickles, compares and serialises as a dict.
    """

    def _refuse(self, *args, **kwargs):
        """Refuse a change (every method that would change the dict).

        Parameters
        ----------
        *args, **kwargs
            What the dict method takes.

        Raises
        ------
        TypeError
            Always, naming the fix.
        """
        raise TypeError(f"{type(self).__name__} is read-only: build a new fibre (or model) with the changed "
                        "values instead")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self):
        return type(self), (dict(self),)


@dataclass(frozen=True)
class IonSpec:
    """How an ion behaves in a membrane.

    Attributes
    ----------
    name : str
        ``na``, ``k`` or ``ca``.
    dynamic : bool
        Some mechanism writes its concentrations: the reversal potential follows Nernst at
        every step (NEURON's eadvance) and at initialisation.
    e_mV : float or str
        Fixed reversal potential (mV) when not dynamic: a number, or an expression of ``celsius``
        (e.g. Schild's own Nernst formula), evaluated once per fibre.
    c_in_mM, c_out_mM : float
        Initial (or fixed) concentrations (mM).
    """

    name: str
    dynamic: bool
    e_mV: float | str
    c_in_mM: float
    c_out_mM: float

    def reversal_mV(self, celsius: float) -> float:
        """The fixed reversal potential at a temperature.

        Parameters
        ----------
        celsius : float
            Temperature (°C).

        Returns
        -------
        float
            (mV).
        """
        if isinstance(self.e_mV, str):
            x = Expression(self.e_mV, f"ions.{self.name}.e_mV")
            if x.names - {"celsius"}:
                raise ValueError(f"ions.{self.name}.e_mV: may use only celsius, not {sorted(x.names - {'celsius'})}")
            return float(eval(x.python(str, str), {"math": math, "celsius": celsius}))  # checked: numbers and math
        return float(self.e_mV)


#: NEURON's defaults when a model says nothing: E_Na 50, E_K −77, E_Ca 132.4579 mV; nai 10, nao 140,
#: ki 54.4, ko 2.5, cai 5e-5, cao 2 mM (reference fibre-models.md §1.7.1).
NEURON_ION_DEFAULTS = {"na": (50.0, 10.0, 140.0), "k": (-77.0, 54.4, 2.5), "ca": (132.4579, 5e-5, 2.0)}


@dataclass(frozen=True, eq=False)
class Membrane:
    """The mechanisms of a model's active sections with their parameter values.

    Build one with `Membrane.from_definition`.

    Attributes
    ----------
    mechanisms : tuple of Mechanism
        In insertion order.
    parameters : dict of str to dict of str to float
        Per mechanism name, its parameter values (defaults overridden by the model).
    ions : dict of str to IonSpec
        Every ion a mechanism uses.
    """

    mechanisms: tuple[Mechanism, ...]
    parameters: dict[str, dict[str, float]]
    ions: dict[str, IonSpec]

    @classmethod
    def from_definition(cls, spec: dict[str, Any], where: str) -> Membrane:
        """Build the membrane a fibre model file describes.

        Parameters
        ----------
        spec : dict
            The model's ``[membrane]`` table: ``mechanisms`` (names), one table per mechanism with
            parameter overrides, and ``ions.<ion>`` with ``e_mV``, ``c_in_mM``, ``c_out_mM``.
        where : str
            The model name, for error messages.

        Returns
        -------
        Membrane
            Mechanisms in insertion order, parameter values, and the ions they use.
        """
        mechs = tuple(load_mechanism(n) for n in spec["mechanisms"])
        params = {}
        for m in mechs:
            over = spec.get(m.name, {})
            unknown = set(over) - set(m.parameters)
            if unknown:
                raise ValueError(f"model {where}: {m.name} has no parameters {sorted(unknown)}")
            params[m.name] = FrozenDict({**m.parameters, **{k: float(v) for k, v in over.items()}})
        used = {ion for m in mechs for ion in set(m.reads) | set(m.writes)}
        ions = {}
        for ion in IONS:
            if ion not in used:
                continue
            e0, ci0, co0 = NEURON_ION_DEFAULTS[ion]
            s = spec.get("ions", {}).get(ion, {})
            dynamic = any(m.writes_concentration_of(ion) for m in mechs)
            e = s.get("e_mV", e0)
            ions[ion] = IonSpec(ion, dynamic, e if isinstance(e, str) else float(e), float(s.get("c_in_mM", ci0)),
                                float(s.get("c_out_mM", co0)))
        return cls(mechs, FrozenDict(params), FrozenDict(ions))

    @property
    def source_text(self) -> str:
        """The mechanism definitions, for hashing."""
        return "\n".join(m.source_text for m in self.mechanisms)

    # -- layout -------------------------------------------------------------------------------------
    def layout(self) -> dict[str, Any]:
        """Positions of every quantity in ``st`` and ``par`` (computed once).

        Returns
        -------
        dict
            ``st`` and ``par``: name → index (mechanism quantities as ``mech.name``, ions as ``ena``,
            ``nai``, ...; the diameter as ``diam``; `constant_terms` in ``par``); ``n_st``, ``n_par``;
            ``tables``: mechanism → (offset, number of quantities, number of entries), stored entry-major
            (quantity q of entry i at offset + i × quantities + q); ``rates``: the names
            ``membrane_rates`` writes, in order.
        """
        return self._layout

    @functools.cached_property
    def _layout(self) -> dict[str, Any]:
        st: dict[str, int] = {}
        par: dict[str, int] = {}
        for m in self.mechanisms:
            for s in m.states:
                if s.name not in ION_QUANTITIES:
                    st[f"{m.name}.{s.name}"] = len(st)
            for a in _varying(m, m.initial):  # values frozen at initialisation that may differ between sections
                st[f"{m.name}.{a.target}"] = len(st)
            for p in m.parameters:
                par[f"{m.name}.{p}"] = len(par)
        for ion in self.ions:
            for q in ion_names(ion):
                st[q] = len(st)
                par[q] = len(par)
        par["diam"] = len(par)
        for m in self.mechanisms:  # terms of parameters and temperature only: computed once per fibre
            for a in constant_terms(m):
                par[f"{m.name}.{a.target}"] = len(par)
        rates = [f"{m.name}.{q}" for m in self.mechanisms for q in _rate_names(m)]
        tables, n_par = {}, len(par)
        for m in self.mechanisms:
            if m.table is not None:
                n = m.table.intervals + 1
                tables[m.name] = (n_par, len(m.table.quantities), n)
                n_par += n * len(m.table.quantities)
        return dict(st=st, par=par, n_st=len(st), n_par=n_par, tables=tables, rates=rates)

    def parameter_vector(self, diameter_um: float, celsius: float = 37.0) -> np.ndarray:
        """The ``par`` vector of a section of diameter ``diameter_um`` at ``celsius``, ready for the kernels.

        Besides the parameter values it holds the rate terms that depend on parameters and temperature
        only (`constant_terms`) and the rate tables, both computed by ``membrane_tables``.

        Parameters
        ----------
        diameter_um : float
            NEURON diameter of the active sections (µm).
        celsius : float
            Temperature (°C), for reversal potentials given as expressions.

        Returns
        -------
        numpy.ndarray
            Parameters, ion values, diameter, constant rate terms and tables (`layout` ``par``).
        """
        lay = self.layout()
        par = np.zeros(lay["n_par"])
        for m in self.mechanisms:
            for p, value in self.parameters[m.name].items():
                par[lay["par"][f"{m.name}.{p}"]] = value
        for ion, spec in self.ions.items():
            e, ci, co, _ = ion_names(ion)
            par[lay["par"][e]] = spec.reversal_mV(celsius)
            par[lay["par"][ci]], par[lay["par"][co]] = spec.c_in_mM, spec.c_out_mM
        par[lay["par"]["diam"]] = diameter_um
        self.kernels().membrane_tables(par, celsius)
        return par

    # -- code generation ----------------------------------------------------------------------------
    def python_source(self) -> str:
        """Numba source of the membrane functions the cable kernels call.

        ``membrane_init(v, st, par, celsius)``, ``membrane_currents_all(v_act, st, par, celsius, out)`` (every
        active section) and for one section ``membrane_current(v, st, par, celsius)`` → (i mA/cm², di/dv
        S/cm²), ``membrane_states(v, st, par, celsius, dt)``, ``membrane_states_all`` (every active section),
        ``membrane_tables(par, celsius)``, ``membrane_ion_currents(v, st, par, celsius, out)``
        (per mechanism and ion, for balancing) and ``membrane_rates(v, st, par, celsius, out)`` (every
        rate quantity at v, in the order of ``layout()["rates"]``, for inspection and tests).

        Returns
        -------
        str
            A Python module's source (Numba functions).
        """
        return _Writer(self).source()

    def kernels(self) -> ModuleType:
        """The compiled membrane functions of `python_source`.

        The module source is written once to ``cache_root()/kernels/k<hash>.py`` (hash of the
        source, Numba's version and Python's), so Numba's on-disk cache applies to it.

        Returns
        -------
        module
            With the ``membrane_*`` functions.
        """
        return _import_kernels(self._source)

    def cable_kernels(self, double_cable: bool, outer: bool = True) -> ModuleType:
        """The compiled cable kernels of this membrane: its functions and the solver for one kind of cable.

        Each kind of cable gets its own module (``DOUBLE_CABLE`` and ``OUTER_LAYER`` fixed in its source),
        so a kernel holds only the solver it runs: less to compile, and less to load in a fresh process.

        Parameters
        ----------
        double_cable : bool
            A double cable (myelin layer; MRG) rather than a single one.
        outer : bool
            Keep NEURON's extracellular layers (False: the fast mode, the layers held at the extracellular
            potential: MRG's outer layer, both layers of a single cable).

        Returns
        -------
        module
            With ``simulate_kernel``, ``simulate_batch``, ``membrane_balance_currents`` (see
            ``nervesim/_cable.py``) and the ``membrane_*`` functions.
        """
        key = (bool(double_cable), bool(outer))
        if key not in self._cable_modules:  # every Circuit of a population asks (twice per fibre)
            header = f"\n\nDOUBLE_CABLE = {key[0]}\nOUTER_LAYER = {key[1]}\n\n"
            self._cable_modules[key] = _import_kernels(self._source + header + _cable_template())
        return self._cable_modules[key]

    @functools.cached_property
    def _source(self) -> str:
        return self.python_source()

    @functools.cached_property
    def _cable_modules(self) -> dict[tuple[bool, bool], ModuleType]:
        return {}


@functools.lru_cache(maxsize=1)
def _cable_template() -> str:
    return resources.files("nervesim").joinpath("_cable.py").read_text()


_MODULES: dict[str, ModuleType] = {}
#: Threads of a population build their fibres' circuits at once: the first import of a module happens once.
_MODULES_LOCK = threading.Lock()


def _import_kernels(source: str) -> ModuleType:
    with _MODULES_LOCK:
        if source not in _MODULES:
            _MODULES[source] = _write_and_import(source)
        return _MODULES[source]


def _write_and_import(source: str) -> ModuleType:
    digest = hashlib.sha256(f"{source}\0{numba.__version__}\0{sys.version}".encode()).hexdigest()[:20]
    folder = cache_root() / "kernels"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"k{digest}.py"
    if not path.exists() or path.read_text() != source:
        # Write atomically: another process may be importing the same file.
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    name = f"nervesim_kernels_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's cache and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


class _Writer:
    """Writes the Python source of a membrane's functions."""

    def __init__(self, membrane: Membrane) -> None:
        self.mem = membrane
        self.lay = membrane.layout()

    # Symbol of mechanism m as Python: parameters and ions read from par/st, other names are locals.
    def namer(self, m: Mechanism, v: str = "v", local: frozenset[str] = frozenset(), slot: str = "st[{}]",
              par: str = "par[{}]"):
        lay = self.lay

        def name(x: str) -> str:
            if x in local:
                return f"{m.name}__{x}"
            if x == "v":
                return v
            if x == "celsius":
                return "celsius"
            if x == "diam":
                return par.format(lay["par"]["diam"])
            if x == "FARADAY":
                return repr(FARADAY)
            if x in m.parameters:  # a mechanism's own parameter wins (AXNODE's ena is a parameter)
                return par.format(lay["par"][f"{m.name}.{x}"])
            if x in ION_QUANTITIES:
                return slot.format(lay["st"][x])
            key = f"{m.name}.{x}"
            if key in lay["st"]:
                return slot.format(lay["st"][key])
            if key in lay["par"]:  # a constant term
                return par.format(lay["par"][key])
            return f"{m.name}__{x}"
        return name

    def call(self, m: Mechanism):
        return lambda f: f"{m.name}__{f}"

    def rates(self, m: Mechanism, indent: str, exact: bool = False, v: str = "v", st: str = "st") -> list[str]:
        """Statements computing the rate quantities of m at ``v`` (table lookup unless ``exact``); states in
        the vector ``st``."""
        name, call = self.namer(m, v, slot=f"{st}[{{}}]"), self.call(m)
        if m.table is None or exact:
            lines = []
            for a in varying_rates(m):
                lines += a.python(name, call, indent)
            for s in m.states:
                if s.is_gate:
                    lines.append(f"{indent}{m.name}__{s.name}_inf = {s.inf.python(name, call)}")
                    lines.append(f"{indent}{m.name}__{s.name}_tau = {s.tau.python(name, call)}")
            return lines
        t = m.table
        off, nq, _ = self.lay["tables"][m.name]
        dx = (t.to_mV - t.from_mV) / t.intervals
        # NEURON multiplies by a stored 1/dx and clamps to the first and last entries.
        lines = [f"{indent}xi = {1.0 / dx!r} * ({v} - {t.from_mV!r})",
                 f"{indent}if xi <= 0.0:", f"{indent}    i0, th = 0, 0.0",
                 f"{indent}elif xi >= {float(t.intervals)!r}:", f"{indent}    i0, th = {t.intervals}, 0.0",
                 f"{indent}else:", f"{indent}    i0 = int(xi)", f"{indent}    th = xi - i0"]
        # Entry-major: the quantities of one v sit side by side, so a lookup touches one or two cache lines.
        lines.append(f"{indent}j0 = {off} + {nq} * i0")
        for q, qname in enumerate(t.quantities):
            lines.append(f"{indent}lo = par[j0 + {q}]")
            lines.append(f"{indent}{m.name}__{qname} = lo if th == 0.0 else lo + th * (par[j0 + {nq + q}] - lo)")
        return lines

    def init_block(self, m: Mechanism, indent: str) -> list[str]:
        name, call = self.namer(m), self.call(m)
        lines = []
        for a in _varying(m, m.initial):
            lines += a.python(name, call, indent)
        lines += self.rates(m, indent)
        for s in m.states:
            target = name(s.name)
            value = s.init.python(name, call) if s.init is not None else f"{m.name}__{s.name}_inf"
            lines.append(f"{indent}{target} = {value}")
        return lines

    def state_block(self, m: Mechanism, indent: str, vector: bool = False, v: str = "v", st: str = "st") -> list[str]:
        """Statements advancing m's states with the new ``v`` (states in the vector ``st``); ``vector``: as
        straight-line code for section j of a vectorised loop in `states_all` (v ``vj``, states ``st[:, j]``,
        ``par[k]`` as ``par_k``)."""
        if vector:
            name, call = self.namer(m, "vj", slot="st[{}, j]", par="par_{}"), self.call_inline(m)
            lines = [line for a in varying_rates(m) for line in _select(a, name, call, indent)]
            lines += [f"{indent}{m.name}__{s.name}_{q} = {getattr(s, q).python(name, call)}"
                      for s in m.states if s.is_gate for q in ("inf", "tau")]
        elif m.implicit:
            return [f"{indent}{m.name}__newton({v}, {st}, par, celsius, dt)"]
        else:
            name, call = self.namer(m, v, slot=f"{st}[{{}}]"), self.call(m)
            lines = self.rates(m, indent, v=v, st=st)
        for s in m.states:
            x = name(s.name)
            if s.is_gate:
                lines += _cnexp(x, f"{m.name}__{s.name}_inf", f"{m.name}__{s.name}_tau", indent)
            else:
                lines.append(f"{indent}{x} = {x} + dt * ({s.derivative.python(name, call)})")
        return _with_vmath(lines) if vector else lines

    def newton(self, m: Mechanism) -> list[str]:
        """Backward Euler for m's states, y = y_old + dt f(y), solved by Newton with a central-difference
        Jacobian to machine precision (NEURON's derivimplicit stops at 1e-6 relative; the two agree to
        about 1e-7 per step), for one section: ``m__newton(v, st, par, celsius, dt)``. Written out for one
        or two states (what the models need); `newton_loop` is the same over every section at once."""
        name, call = self.namer(m), self.call(m)
        slots = [name(s.name) for s in m.states]
        k = len(slots)
        if k not in (1, 2):
            raise ValueError(f"mechanism {m.name}: derivimplicit supports one or two states, not {k}")
        dec = '@njit(cache=True, nogil=True, inline="always")'  # per section and step
        fs = ", ".join(f"f{i}" for i in range(k))
        out = [dec, f"def {m.name}__f(v, st, par, celsius):"]
        out += self.rates(m, "    ")
        out += [f"    f{i} = {s.derivative.python(name, call)}" for i, s in enumerate(m.states)]
        out += [f"    return {fs}{',' if k == 1 else ''}", "", "", dec,
                f"def {m.name}__newton(v, st, par, celsius, dt):"]
        out += [f"    y{i} = {x}" for i, x in enumerate(slots)]

        def evaluate(names: list[str], indent: str) -> list[str]:
            return [f"{indent}{', '.join(names)}{',' if k == 1 else ''} = {m.name}__f(v, st, par, celsius)"]
        out += ["    for it in range(50):"]
        out += _newton_iteration(slots, [f"y{i}" for i in range(k)], evaluate, "        ")
        done = " and ".join(f"abs(d{i}) <= 1e-13 * abs({x}) + 1e-300" for i, x in enumerate(slots))
        out += [f"        if {done}:", "            break", "    return 0", "", ""]
        return out

    def newton_loop(self, m: Mechanism) -> list[str]:
        """`newton` for every active section in `states_all`: each iteration a loop over the sections of
        straight-line code, which LLVM vectorises, until every section has converged."""
        states = frozenset(s.name for s in m.states)  # the iterates are locals
        name, call = self.namer(m, "vj", states, "st[{}, j]", "par_{}"), self.call_inline(m)
        slots = [self.namer(m, slot="st[{}, j]")(s.name) for s in m.states]
        ys = [name(s.name) for s in m.states]
        rates = [line for a in varying_rates(m) for line in _select(a, name, call, "            ")]

        def evaluate(names: list[str], indent: str) -> list[str]:
            return rates + [f"{indent}{f} = {s.derivative.python(name, call)}" for f, s in zip(names, m.states)]
        body = [f"            {y} = {x}" for y, x in zip(ys, slots)]
        body += _newton_iteration(ys, [f"y_old[{i}, j]" for i in range(len(ys))], evaluate, "            ")
        body += [f"            {x} = {y}" for y, x in zip(ys, slots)]
        body += [f"            if abs(d{i}) > 1e-13 * abs({y}) + 1e-300:" + "\n                unconverged += 1"
                 for i, y in enumerate(ys)]
        body = _with_vmath("\n".join(body).split("\n"))
        out = [f"    y_old = np.empty(({len(ys)}, act.shape[0]))", "    for j in range(act.shape[0]):"]
        out += [f"        y_old[{i}, j] = {x}" for i, x in enumerate(slots)]
        out += _parameter_loads(body) + ["    for it in range(50):", "        unconverged = 0",
                                         "        for j in range(act.shape[0]):", "            vj = v_act[j]"]
        return out + body + ["        if unconverged == 0:", "            break"]

    def current_block(self, m: Mechanism, v: str, indent: str, vector: bool = False) -> list[str]:
        """Statements computing m's currents at ``v``; ``vector``: as straight-line code for section j of a
        vectorised loop in `currents_all` (states ``st[:, j]``, ``par[k]`` as ``par_k``)."""
        # A mechanism's own ion currents are locals here; other reads of i<ion> are the accumulated totals.
        local = frozenset(a.target for a in m.currents)
        if vector:
            name, call = self.namer(m, v, local, slot="st[{}, j]", par="par_{}"), self.call_inline(m)
            return _with_vmath([line for a in m.assigned + m.currents for line in _select(a, name, call, indent)])
        name, call = self.namer(m, v, local), self.call(m)
        return [line for a in m.assigned + m.currents for line in a.python(name, call, indent)]

    def ion_reversal(self, indent: str, st: str = "st") -> list[str]:
        """Nernst potentials of the dynamic ions from their concentrations in the state vector ``st``."""
        lines = []
        for ion, spec in self.mem.ions.items():
            if spec.dynamic:
                e, ci, co, _ = (f"{st}[{self.lay['st'][q]}]" for q in ion_names(ion))
                ktf = f"(1000.0 * {GAS_CONSTANT!r} * (celsius + 273.15) / {FARADAY!r})"
                lines += [f"{indent}if {ci} <= 0.0:", f"{indent}    {e} = 1e6",
                          f"{indent}elif {co} <= 0.0:", f"{indent}    {e} = -1e6", f"{indent}else:",
                          f"{indent}    {e} = {ktf} / {IONS[ion]!r}.0 * math.log({co} / {ci})"]
        return lines

    def loops(self) -> list[tuple[str, list[Mechanism]]]:
        """The loops of `states_all`: (kind, mechanisms) in NEURON's mechanism order, mechanisms with states
        only. Consecutive `_vectorisable` mechanisms share a ``"vector"`` loop up to `MAX_VECTOR_STATEMENTS`
        rates and states; a mechanism of `_tabled_gates` gets a ``"table"`` pair of loops of its own, an
        implicit one a ``"newton"`` loop of its own; the others share ``"scalar"`` loops."""
        out: list[tuple[str, list[Mechanism]]] = []
        for m in self.ordered():
            if not m.states:
                continue
            kind = ("newton" if m.implicit else "vector" if _vectorisable(m) else "table" if _tabled_gates(m)
                    else "scalar")
            if out and out[-1][0] == kind not in ("table", "newton") and (kind == "scalar" or _size(m) + sum(
                    _size(x) for x in out[-1][1]) <= MAX_VECTOR_STATEMENTS):
                out[-1][1].append(m)
            else:
                out.append((kind, [m]))
        return out

    def table_loops(self, m: Mechanism) -> list[str]:
        """m's table lookups for every section in a scalar loop, into the rows of ``tab``, then its gates'
        update in a loop LLVM vectorises (a lookup is a gather from ``par``, which LLVM does not vectorise
        beside stores)."""
        row = {q: i for i, q in enumerate(m.table.quantities)}
        out = ["    for j in range(act.shape[0]):", "        vj = v_act[j]"] + self.rates(m, "        ", v="vj")
        out += [f"        tab[{i}, j] = {m.name}__{q}" for q, i in row.items()]
        out.append("    for j in range(act.shape[0]):")
        name = self.namer(m, slot="st[{}, j]")
        for s in m.states:
            out += _cnexp(name(s.name), f"tab[{row[s.name + '_inf']}, j]", f"tab[{row[s.name + '_tau']}, j]",
                          "        ", exp="vexp")
        return out

    def states_all(self, dec: str, loops: list[tuple[str, list[Mechanism]]]) -> list[str]:
        """``membrane_states_all(v, act, st, par, celsius, dt, v_act)``: every active section's states (``st``
        holds one column per section) with the new v, in the loops over the sections ``loops`` (`loops`).

        A vectorised loop is straight-line code: every case of an assignment computed, then selected; exp as
        `vexp`; helper functions inlined; the parameters it reads loaded before it (LLVM cannot tell that the
        stores to ``st`` leave ``par`` alone, and with a load of ``par`` after a store it would need more
        run-time overlap checks than it makes, and leave the loop scalar: 4x slower for Schild's). A scalar
        loop runs the mechanisms' code on the section's column; a table loop pair is `table_loops`, a Newton
        loop `newton_loop`."""
        out = [dec, "def membrane_states_all(v, act, st, par, celsius, dt, v_act):",
               "    for j in range(act.shape[0]):", "        v_act[j] = v[act[j]]"]  # gathered: vectorised loops
        rows = max((len(mechs[0].table.quantities) for kind, mechs in loops if kind == "table"), default=0)
        if rows:
            out.append(f"    tab = np.empty(({rows}, act.shape[0]))")
        for kind, mechs in loops:  # read v contiguously
            if kind in ("table", "newton"):
                out += self.table_loops(mechs[0]) if kind == "table" else self.newton_loop(mechs[0])
                continue
            vector = kind == "vector"
            body = [line for m in mechs for line in self.state_block(m, "        ", vector=vector, v="vj", st="sj")]
            if vector:
                out += _parameter_loads(body)
            out += ["    for j in range(act.shape[0]):", "        vj = v_act[j]"]
            out += body if vector else ["        sj = st[:, j]"] + body
        return out + ["    return 0", ""]

    def currents_all(self, dec: str) -> list[str]:
        """``membrane_currents_all(v_act, st, par, celsius, out)``: the membrane current of every active section
        (column j of ``st`` at ``v_act[j]``) into ``out[0, j]``, and NEURON's slope, per mechanism
        (I(v + dv) − I(v)) / dv, into ``out[1, j]``; the ion currents at v accumulate into ``st``. The Nernst
        potentials in a scalar loop (log is a libm call), then a loop per mechanism of straight-line code,
        which LLVM vectorises, as in `states_all`."""
        lay, dv = self.lay, repr(DV_SLOPE_MV)
        out = [dec, "def membrane_currents_all(v_act, st, par, celsius, out):"]
        nernst = self.ion_reversal("        ", "sj")
        if nernst:
            out += ["    for j in range(v_act.shape[0]):", "        sj = st[:, j]"] + nernst
        out += ["    for j in range(v_act.shape[0]):", "        out[0, j] = 0.0", "        out[1, j] = 0.0"]
        out += [f"        st[{lay['st'][ion_names(ion)[3]]}, j] = 0.0" for ion in self.mem.ions]
        for m in self.mem.mechanisms:
            terms = [a.target for a in m.currents]
            if not terms:  # e.g. a concentration mechanism
                continue
            body = []
            for v, i in (("vp", "i1"), ("vj", "i0")):
                body += self.current_block(m, v, "        ", vector=True)
                body.append(f"        {i} = {' + '.join(f'{m.name}__{t}' for t in terms)}")
            body += [f"        st[{lay['st'][t]}, j] += {m.name}__{t}" for t in terms if t in ION_QUANTITIES]
            body += [f"        out[1, j] += (i1 - i0) / {dv}", "        out[0, j] += i0"]
            out += _parameter_loads(body)  # loaded before the loop (see `states_all`)
            out += ["    for j in range(v_act.shape[0]):", "        vj = v_act[j]", f"        vp = vj + {dv}"] + body
        return out + ["    return 0", ""]

    def call_inline(self, m: Mechanism):
        return lambda f: f"{m.name}__{f}_inline"

    def source(self) -> str:
        mem, lay = self.mem, self.lay
        out = ["# Generated by nervesim.membrane from models/mechanisms; do not edit.",
               "import math", "", "import llvmlite.ir", "import numba", "import numba.extending", "import numpy as np",
               "from numba import prange", "", "",
               "def njit(**options):",
               "    # Division by zero gives inf/nan as in NEURON's C, not Python's ZeroDivisionError; multiply-adds",
               "    # may fuse (one rounding instead of two; nervesim/_cable.py says what it gains).",
               "    return numba.njit(error_model='numpy', fastmath={'contract'}, **options)", "", ""]
        dec = "@njit(cache=True, nogil=True)"
        hot = '@njit(cache=True, nogil=True, inline="always")'  # called per compartment and step
        loops = self.loops()
        vector = {m.name for kind, mechs in loops if kind in ("vector", "newton") for m in mechs}
        vector |= {m.name for m in mem.mechanisms if m.currents}  # currents_all inlines their helpers
        if vector or any(kind == "table" for kind, _ in loops):
            out += _VMATH.splitlines() + ["", ""]

        def local(x: str) -> str:  # a helper function's body names its arguments and FARADAY only
            return x if x != "FARADAY" else repr(FARADAY)

        for m in mem.mechanisms:
            for fname, (args, body) in m.functions.items():
                out += [dec, f"def {m.name}__{fname}({', '.join(args)}):"]
                out += body.python(local, self.call(m), "    ")
                out += [f"    return {fname}", ""]
                if m.name in vector:
                    out += [hot, f"def {m.name}__{fname}_inline({', '.join(args)}):"]
                    out += _with_vmath(_select(body, local, self.call_inline(m), "    "))
                    out += [f"    return {fname}", ""]
        for m in mem.mechanisms:
            if m.implicit:
                out += self.newton(m)
        # init: ions from par, then mechanisms (concentration writers first, as NEURON), then Nernst.
        out += [dec, "def membrane_init(v, st, par, celsius):"]
        for ion in mem.ions:
            for q in ion_names(ion)[:3]:
                out.append(f"    st[{lay['st'][q]}] = par[{lay['par'][q]}]")
            out.append(f"    st[{lay['st'][ion_names(ion)[3]]}] = 0.0")
        for m in self.ordered():
            out += self.init_block(m, "    ")
        out += self.ion_reversal("    ")
        out += ["    return 0", ""]
        # current: per mechanism, NEURON's slope (I(v + dv) - I(v)) / dv; ion currents accumulated at v.
        out += self.currents_all(hot)
        out += [dec, "def membrane_current(v, st, par, celsius):",  # one section: a one-column membrane_currents_all
                "    out = np.empty((2, 1))",
                "    membrane_currents_all(np.full(1, v), st.reshape((st.shape[0], 1)), par, celsius, out)",
                "    return out[0, 0], out[1, 0]", ""]
        # states: concentration writers first, then the rest (NEURON's mechanism order), with the new v.
        out += [hot, "def membrane_states(v, st, par, celsius, dt):"]
        for m in self.ordered():
            out += self.state_block(m, "    ")
        out += ["    return 0", ""]
        out += self.states_all(dec, loops)
        # constant terms, then tables built as NEURON builds them: x from the first point by repeated
        # addition of dx.
        out += [dec, "def membrane_tables(par, celsius):"]
        for m in mem.mechanisms:
            for a in constant_terms(m):
                out += a.python(self.namer(m), self.call(m), "    ")
        for m in mem.mechanisms:
            if m.table is None:
                continue
            t = m.table
            off, nq, n = lay["tables"][m.name]
            dx = (t.to_mV - t.from_mV) / t.intervals
            out += [f"    v = {t.from_mV!r}", f"    for j in range({n}):"]
            out += self.rates(m, "        ", exact=True)
            for q, qname in enumerate(t.quantities):
                out.append(f"        par[{off + q} + {nq} * j] = {m.name}__{qname}")
            out.append(f"        v += {dx!r}")
        out += ["    return 0", ""]
        # per-mechanism ion currents at v (rows: mechanisms; columns: ions in IONS order), for balancing.
        out += [dec, "def membrane_ion_currents(v, st, par, celsius, out):"]
        for r, m in enumerate(mem.mechanisms):
            out += self.current_block(m, "v", "    ")
            for c, ion in enumerate(IONS):
                t = ion_names(ion)[3]
                if any(a.target == t for a in m.currents):
                    out.append(f"    out[{r}, {c}] = {m.name}__{t}")
        out += ["    return 0", ""]
        out += [dec, "def membrane_rates(v, st, par, celsius, out):"]
        r = 0
        for m in mem.mechanisms:
            out += self.rates(m, "    ")
            for q in _rate_names(m):
                out.append(f"    out[{r}] = {m.name}__{q}")
                r += 1
        out += ["    return 0", ""]
        return "\n".join(out) + "\n"

    def ordered(self) -> list[Mechanism]:
        mechs = list(self.mem.mechanisms)
        return [m for m in mechs if m.writes_concentration] + [m for m in mechs if not m.writes_concentration]


def _newton_iteration(x: list[str], old: list[str], evaluate, indent: str) -> list[str]:
    """One Newton iteration of backward Euler, x = old + dt f(x), for one or two states (`_Writer.newton`
    checks): the residual, a central-difference Jacobian, the update d (Cramer's rule for two) added to ``x``.
    ``evaluate(names, indent)`` gives the lines computing f at the current ``x`` into ``names``."""
    k = len(x)
    lines = evaluate([f"f{i}" for i in range(k)], indent)
    lines += [f"{indent}r{i} = f{i} - ({xi} - {oi}) / dt" for i, (xi, oi) in enumerate(zip(x, old))]
    for j, xj in enumerate(x):
        lines += [f"{indent}z = {xj}", f"{indent}h = max(1e-6 * abs(z), 1e-12)", f"{indent}{xj} = z + h"]
        lines += evaluate([f"p{i}" for i in range(k)], indent) + [f"{indent}{xj} = z - h"]
        lines += evaluate([f"q{i}" for i in range(k)], indent) + [f"{indent}{xj} = z"]
        lines += [f"{indent}j{i}{j} = (p{i} - q{i}) / (2.0 * h){' - 1.0 / dt' if i == j else ''}" for i in range(k)]
    if k == 1:
        lines += [f"{indent}d0 = -r0 / j00"]
    else:
        lines += [f"{indent}det = j00 * j11 - j01 * j10", f"{indent}d0 = (-r0 * j11 + r1 * j01) / det",
                  f"{indent}d1 = (-r1 * j00 + r0 * j10) / det"]
    return lines + [f"{indent}{xi} = {xi} + d{i}" for i, xi in enumerate(x)]


def _vectorisable(m: Mechanism) -> bool:
    """Whether m's state update runs in a shared vectorised loop over sections: explicit, without a table and
    at most `MAX_VECTOR_STATEMENTS` rates and states. (Every expression is straight-line code there: the
    functions expressions may call all have forms LLVM vectorises, `_VMATH`'s or its own.)"""
    return not m.implicit and m.table is None and _size(m) <= MAX_VECTOR_STATEMENTS


def _parameter_loads(body: list[str]) -> list[str]:
    """Statements loading, before a vectorised loop, the parameters ``par_k`` its ``body`` reads."""
    return [f"    par_{k} = par[{k}]" for k in sorted({int(k) for k in re.findall(r"\bpar_(\d+)", "\n".join(body))})]


def _tabled_gates(m: Mechanism) -> bool:
    """Whether m's states are gates whose inf and tau its table holds: explicit, updated by lookups and cnexp."""
    return (m.table is not None and not m.implicit and all(s.is_gate for s in m.states)
            and all(f"{s.name}_{q}" in m.table.quantities for s in m.states for q in ("inf", "tau")))


def _cnexp(x: str, inf: str, tau: str, indent: str, exp: str = "math.exp") -> list[str]:
    """nocmodl's cnexp for x' = (inf - x)/tau: a = -1/tau, x += (1 - exp(dt a)) (-(inf/tau)/a - x)."""
    return [f"{indent}a = -1.0 / {tau}", f"{indent}{x} = {x} + (1.0 - {exp}(dt * a)) * (-({inf} / {tau}) / a - {x})"]


def _size(m: Mechanism) -> int:
    """Statements of m's vectorised state update: its varying rates and its states."""
    return len(varying_rates(m)) + len(m.states)


def _select(a, name, call, indent: str) -> list[str]:
    """Assignment ``a`` as straight-line code: every case's value into a temporary, then nested selects (its
    conditions guard singular points and clamps, so an unused value may be inf or nan, which is harmless)."""
    tgt = name(a.target)
    if len(a.cases) == 1:
        return [f"{indent}{tgt} = {a.cases[0][1].python(name, call)}"]
    temps = [f"{tgt}_{i}" for i in range(len(a.cases))]
    lines = [f"{indent}{t} = {value.python(name, call)}" for t, (_, value) in zip(temps, a.cases)]
    expr = temps[-1]
    for t, (cond, _) in reversed(list(zip(temps, a.cases))[:-1]):
        expr = f"({t} if {cond.python(name, call)} else {expr})"
    return lines + [f"{indent}{tgt} = {expr}"]


#: exp, log and pow in straight-line code: Numba maps math.exp, math.log and powers to libm calls, which stop LLVM
#: from vectorising a loop (PyPI's llvmlite has no vector math library).
#: vexp: Cody-Waite reduction, a degree-12 Taylor polynomial and 2^k as two halves built from their bits (both
#: normal numbers for every k, so subnormal results come out of the last product); within 3 ulp of the C
#: library's exp (equal to it for 86 % of arguments), inf above 709.78 and 0 below -745.14 as it, nan for nan.
#: vlog: x = m 2^k with m in [sqrt(1/2), sqrt(2)) from its bits (subnormals scaled by 2^54 first), log m =
#: f - f^2/2 + s (f^2/2 + t(s^2)) with f = m - 1, s = f / (m + 1) and t the atanh series to s^22 (fdlibm's
#: split, so f is exact); within 1 ulp of the C library's log, -inf at 0, nan below 0 or for nan, inf at inf.
#: vlog10 = vlog / ln 10 (within 2 ulp) and vpow(x, y) = vexp(y vlog(x)) (within 4 + 2 |y ln x| ulp).
_VMATH = """
@numba.extending.intrinsic
def _float_from_bits(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvmlite.ir.DoubleType())
    return numba.types.float64(numba.types.int64), codegen


@numba.extending.intrinsic
def _bits_from_float(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvmlite.ir.IntType(64))
    return numba.types.int64(numba.types.float64), codegen


@njit(inline="always")
def vexp(x):
    y = -745.2 if x < -745.2 else (709.8 if x > 709.8 else x)
    k = math.floor(y * 1.4426950408889634 + 0.5)
    r = (y - k * 0.6931471803691238) - k * 1.9082149292705877e-10
    p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (
        1.0 / 5040.0 + r * (1.0 / 40320.0 + r * (1.0 / 362880.0 + r * (1.0 / 3628800.0 + r * (
            1.0 / 39916800.0 + r * (1.0 / 479001600.0))))))))))))
    ki = np.int64(k)
    h = ki >> 1
    e = p * _float_from_bits((h + 1023) << 52) * _float_from_bits((ki - h + 1023) << 52)
    return math.inf if x > 709.782712893384 else (0.0 if x < -745.1332191019412 else e)


@njit(inline="always")
def vlog(x):
    tiny = x < 2.2250738585072014e-308
    b = _bits_from_float(x * 18014398509481984.0 if tiny else x)
    e = ((b >> 52) & 2047) - (1077 if tiny else 1023)
    m = _float_from_bits((b & 4503599627370495) | 4607182418800017408)
    big = m > 1.4142135623730951
    m = 0.5 * m if big else m
    k = np.float64(e + 1 if big else e)
    f = m - 1.0
    s = f / (m + 1.0)
    z = s * s
    t = z * (2.0 / 3.0 + z * (2.0 / 5.0 + z * (2.0 / 7.0 + z * (2.0 / 9.0 + z * (2.0 / 11.0 + z * (2.0 / 13.0 + z * (
        2.0 / 15.0 + z * (2.0 / 17.0 + z * (2.0 / 19.0 + z * (2.0 / 21.0 + z * (2.0 / 23.0)))))))))))
    hf = 0.5 * f * f
    r = k * 0.6931471803691238 + (f - (hf - (s * (hf + t) + k * 1.9082149292705877e-10)))
    return r if 0.0 < x < math.inf else (-math.inf if x == 0.0 else (x if x == math.inf else math.nan))


@njit(inline="always")
def vlog10(x):
    return vlog(x) * 0.4342944819032518


@njit(inline="always")
def vpow(x, y):
    return vexp(y * vlog(x))
"""


def constant_terms(m: Mechanism) -> tuple:
    """The ``[initial]`` and ``[rates]`` assignments of m that depend on parameters, temperature and the
    diameter only.

    NEURON evaluates them per section, at initialisation or at every call; their values cannot change during
    a run, so the kernels compute them once per fibre (the same expressions, hence the same values) and keep
    them in ``par``: a vectorised state loop then reads no per-section value it does not write.

    Parameters
    ----------
    m : Mechanism
        The mechanism.

    Returns
    -------
    tuple of Assignment
        In their order, ``[initial]`` first.
    """
    fixed = set(m.parameters) | {"celsius", "diam", "FARADAY"}
    out = []
    for a in m.initial + m.rates:
        if all(x.names <= fixed for x in a.expressions()):
            out.append(a)
            fixed.add(a.target)
    return tuple(out)


def varying_rates(m: Mechanism) -> tuple:
    """The ``[rates]`` assignments of m evaluated at every use: all but its `constant_terms`.

    Parameters
    ----------
    m : Mechanism
        The mechanism.

    Returns
    -------
    tuple of Assignment
        In their order in ``[rates]``.
    """
    return _varying(m, m.rates)


def _varying(m: Mechanism, assignments: tuple) -> tuple:
    """The ``assignments`` of m that are not among its `constant_terms`."""
    constant = {a.target for a in constant_terms(m)}
    return tuple(a for a in assignments if a.target not in constant)


def _with_vmath(lines: list[str]) -> list[str]:
    """Generated lines with the C library's exp, log, log10 and pow replaced by `vexp`, `vlog`, `vlog10` and
    `vpow` (see `_VMATH`)."""
    for lib, ours in (("math.exp(", "vexp("), ("math.log(", "vlog("), ("math.log10(", "vlog10("),
                      ("math.pow(", "vpow(")):
        lines = [line.replace(lib, ours) for line in lines]
    return lines


def _rate_names(m: Mechanism) -> list[str]:
    """The quantities m's rate block defines: its table's, else every [rates] target and gate inf/tau."""
    if m.table is not None:
        return list(m.table.quantities)
    return [a.target for a in m.rates] + [f"{s.name}_{x}" for s in m.states if s.is_gate for x in ("inf", "tau")]


def check_temperature(celsius: float) -> float:
    """Check a temperature for the membrane kinetics.

    Parameters
    ----------
    celsius : float
        Temperature (°C).

    Returns
    -------
    float
        The temperature (°C).

    Raises
    ------
    ParameterError
        Outside −10 to 50 °C (parameter ``temperature_c``).
    """
    if not math.isfinite(celsius) or not -10.0 <= celsius <= 50.0:
        raise ParameterError("temperature_c", f"temperature_c={celsius}: must be finite, between -10 and 50 °C")
    return float(celsius)


def nmodl_files() -> dict[str, str]:
    """The NMODL source of every mechanism in ``models/mechanisms``, for NEURON's ``nrnivmodl``.

    Returns
    -------
    dict of str to str
        File name (``nsim_<name>.mod``) to source.
    """
    return {f"{load_mechanism(n).suffix}.mod": load_mechanism(n).nmodl() for n in mechanism_names()}
