"""Membrane mechanisms as data: one TOML definition gives both the Numba code and the NMODL.

A mechanism file (``models/mechanisms/<name>.toml``) declares, in NEURON's units (mV, ms, S/cm²,
mA/cm², mM, µm, °C):

``[parameters]``
    Name = default value (floats). A fibre model may override any of them.
``[ions]``
    Per ion (``na``, ``k``, ``ca``): ``read`` (e.g. ``["ena"]``, ``["nai"]``, ``["ina"]``) and
    ``write`` (its currents ``["ina"]`` or concentrations ``["nai", "nao"]``).
``[functions.<name>]``
    Helper functions: ``args`` and ``cases``, a list of ``{when = cond, value = expr}`` ending with a
    plain ``{value = expr}``.
``[initial]``
    Quantities computed once at initialisation and then frozen (NEURON INITIAL assignments).
``[rates]``
    Ordered assignments evaluated at initialisation and at every state update with the new v.
    Each is an expression or ``{cases = [...]}``.
``[states.<x>]``
    A gate (``inf`` and ``tau``: x' = (inf − x)/tau, integrated as NEURON's cnexp) or a quantity
    with ``derivative`` (x' = f, f independent of x: x += dt·f, again as cnexp) and ``init``.
    A state named after an ion concentration (``nai``, ``ko``, ...) is that ion's concentration.
``[assigned]``
    Ordered assignments evaluated before the currents.
``[currents]``
    Ordered: ``i<ion>`` terms add to that ion's current (``ina``, ``ik``, ``ica``); any other name is
    a nonspecific current. Outward positive (mA/cm²).
``[table]``
    ``quantities`` (names computed in ``[rates]`` that depend on v and celsius only), ``from_mV``,
    ``to_mV``, ``intervals``: NEURON's TABLE, reproduced by linear interpolation in both engines.
``method``
    ``"cnexp"`` (default) or ``"derivimplicit"``: all ``derivative`` states advance together by
    backward Euler (f may then depend on the states themselves), as NEURON's derivimplicit.

Expressions use Python syntax (``**`` for powers, ``and``/``or``/``not``, comparisons) with the
functions ``exp``, ``log``, ``log10``, ``sqrt``, ``fabs`` and the names ``v``, ``celsius``, ``diam``
and ``FARADAY``. `Mechanism.nmodl` writes the NMODL; `nervesim.membrane` writes the Numba code.
"""
from __future__ import annotations

import ast
import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

from .errors import ParameterError

#: Faraday's constant (C/mol) as NEURON 9 forms it: e·N_A of the exact CODATA 2018 values, in double.
FARADAY = 1.602176634e-19 * 6.02214076e23
#: Gas constant (J/(mol K)) as NEURON 9 forms it: k_B·N_A, in double.
GAS_CONSTANT = 1.380649e-23 * 6.02214076e23
#: Ions a mechanism may use, and their valence.
IONS = {"na": 1, "k": 1, "ca": 2}
#: Names every expression may use besides the mechanism's own.
GLOBAL_NAMES = ("v", "celsius", "diam", "FARADAY")
_MATH = {"exp": "math.exp", "log": "math.log", "log10": "math.log10", "sqrt": "math.sqrt", "fabs": "abs"}
_BIN_PY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_BIN_MOD = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


def _whole_power(node: ast.BinOp) -> bool:
    """Whether a ``**`` raises to a whole-number constant (``x ** 3``)."""
    return isinstance(node.right, ast.Constant) and type(node.right.value) is int


def ion_names(ion: str) -> tuple[str, str, str, str]:
    """NEURON's names of an ion's quantities.

    Parameters
    ----------
    ion : str
        ``na``, ``k`` or ``ca``.

    Returns
    -------
    tuple of str
        Reversal potential, inside and outside concentration, current: e.g. (``ena``, ``nai``,
        ``nao``, ``ina``).
    """
    return f"e{ion}", f"{ion}i", f"{ion}o", f"i{ion}"


ION_QUANTITIES = {name: ion for ion in IONS for name in ion_names(ion)}


class Expression:
    """One expression of a mechanism, parsed once and written as Python or NMODL.

    Parameters
    ----------
    text : str
        Python-syntax expression.
    where : str
        Where it stands (for error messages), e.g. ``nahh: rates.am``.
    """

    def __init__(self, text: str, where: str) -> None:
        try:
            self.tree = ast.parse(str(text), mode="eval").body
        except SyntaxError as exc:
            raise ValueError(f"{where}: cannot parse {text!r} ({exc.msg})") from None
        self.text = str(text)
        self.where = where
        self.names: set[str] = set()
        self.calls: set[str] = set()
        self._collect(self.tree)

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            self.names.add(node.id)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.keywords:
                raise ValueError(f"{self.where}: only plain function calls are allowed in {self.text!r}")
            self.calls.add(node.func.id)
            for a in node.args:
                self._collect(a)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                raise ValueError(f"{self.where}: only numbers are allowed as constants in {self.text!r}")
        elif isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp)):
            if isinstance(node, ast.BinOp) and type(node.op) not in _BIN_PY:
                raise ValueError(f"{self.where}: operator not allowed in {self.text!r}")
            if isinstance(node, ast.Compare) and (len(node.ops) != 1 or type(node.ops[0]) not in _CMP):
                raise ValueError(f"{self.where}: use one comparison at a time in {self.text!r}")
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, (ast.operator, ast.unaryop, ast.cmpop, ast.boolop)):
                    self._collect(child)
        else:
            raise ValueError(f"{self.where}: {type(node).__name__} is not allowed in {self.text!r}")

    def python(self, name: Callable[[str], str], call: Callable[[str], str]) -> str:
        """The expression as Python source for Numba.

        Parameters
        ----------
        name : callable
            Maps a symbol to its Python variable name.
        call : callable
            Maps a helper function name to its Python function name.

        Returns
        -------
        str
            Fully parenthesised source; numbers are written as floats, so powers and divisions are
            done in double precision as NEURON's C does, except whole-number exponents (``x ** 3``),
            which stay integers so that Numba multiplies them out; other powers are ``math.pow`` calls.
        """
        return self._emit(self.tree, name, call, nmodl=False)

    def nmodl(self) -> str:
        """The expression in NMODL syntax (fully parenthesised; ``^``, ``&&``, ``||``, ``!``).

        Returns
        -------
        str
            The NMODL expression.
        """
        return self._emit(self.tree, lambda n: n, lambda f: f, nmodl=True)

    def _emit(self, node: ast.AST, name, call, nmodl: bool) -> str:
        def e(n):
            return self._emit(n, name, call, nmodl)
        if isinstance(node, ast.Constant):
            return repr(float(node.value))
        if isinstance(node, ast.Name):
            return name(node.id)
        if isinstance(node, ast.BinOp):
            op = (_BIN_MOD if nmodl else _BIN_PY)[type(node.op)]
            if not nmodl and isinstance(node.op, ast.Pow):
                if _whole_power(node):
                    # Numba multiplies out a power to an integer literal (LLVM can then vectorise the loop
                    # around it); the product may differ from libm's pow in the last bit.
                    return f"({e(node.left)} ** {node.right.value})"
                return f"math.pow({e(node.left)}, {e(node.right)})"  # a call vectorised loops replace
            return f"({e(node.left)} {op} {e(node.right)})"
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return f"(-{e(node.operand)})"
            if isinstance(node.op, ast.UAdd):
                return e(node.operand)
            return f"(!{e(node.operand)})" if nmodl else f"(not {e(node.operand)})"
        if isinstance(node, ast.Compare):
            return f"({e(node.left)} {_CMP[type(node.ops[0])]} {e(node.comparators[0])})"
        if isinstance(node, ast.BoolOp):
            op = (" && " if isinstance(node.op, ast.And) else " || ") if nmodl else (
                " and " if isinstance(node.op, ast.And) else " or ")
            return "(" + op.join(e(v) for v in node.values) + ")"
        fn = node.func.id
        target = fn if nmodl else _MATH.get(fn) or call(fn)
        return f"{target}({', '.join(e(a) for a in node.args)})"


@dataclass(frozen=True)
class Assignment:
    """``target = value`` or, with cases, the first ``value`` whose ``when`` holds.

    Attributes
    ----------
    target : str
        Assigned name.
    cases : tuple of (Expression or None, Expression)
        Conditions and values in order; the last condition is None (otherwise).
    """

    target: str
    cases: tuple[tuple[Expression | None, Expression], ...]

    @classmethod
    def parse(cls, target: str, spec: Any, where: str) -> Assignment:
        """Read one TOML entry (an expression string or ``{cases = [...]}``).

        Parameters
        ----------
        target : str
            The name being assigned.
        spec : str or dict
            The entry.
        where : str
            Location for error messages.

        Returns
        -------
        Assignment
            The parsed assignment.
        """
        if isinstance(spec, dict):
            cases = []
            for i, case in enumerate(spec["cases"]):
                cond = case.get("when")
                cases.append((None if cond is None else Expression(cond, f"{where}[{i}].when"),
                              Expression(case["value"], f"{where}[{i}].value")))
            if cases[-1][0] is not None or any(c is None for c, _ in cases[:-1]):
                raise ValueError(f"{where}: every case but the last needs 'when'; the last must not have one")
            return cls(target, tuple(cases))
        return cls(target, ((None, Expression(spec, where)),))

    def expressions(self) -> list[Expression]:
        """Every expression of the assignment (conditions and values).

        Returns
        -------
        list of Expression
            In order: each case's condition, then its value.
        """
        return [x for c in self.cases for x in c if x is not None]

    def python(self, name, call, indent: str) -> list[str]:
        """Python statements assigning the target.

        Parameters
        ----------
        name, call : callable
            As `Expression.python`.
        indent : str
            Leading whitespace.

        Returns
        -------
        list of str
            Source lines (an if/elif/else chain for cases).
        """
        tgt = name(self.target)
        if len(self.cases) == 1:
            return [f"{indent}{tgt} = {self.cases[0][1].python(name, call)}"]
        lines = []
        for i, (cond, value) in enumerate(self.cases):
            head = "if" if i == 0 else "elif"
            lines.append(f"{indent}{head} {cond.python(name, call)}:" if cond is not None else f"{indent}else:")
            lines.append(f"{indent}    {tgt} = {value.python(name, call)}")
        return lines

    def nmodl(self, indent: str) -> list[str]:
        """NMODL statements assigning the target.

        Parameters
        ----------
        indent : str
            Leading whitespace.

        Returns
        -------
        list of str
            NMODL lines (an if/else chain for cases).
        """
        if len(self.cases) == 1:
            return [f"{indent}{self.target} = {self.cases[0][1].nmodl()}"]
        lines = []
        for i, (cond, value) in enumerate(self.cases):
            if cond is None:
                lines.append(f"{indent}}} else {{")
            else:
                lines.append(f"{indent}{'if' if i == 0 else '} else if'} ({cond.nmodl()}) {{")
            lines.append(f"{indent}    {self.target} = {value.nmodl()}")
        lines.append(f"{indent}}}")
        return lines


@dataclass(frozen=True)
class State:
    """A state variable: a gate (``inf``, ``tau``) or a quantity with a ``derivative`` and ``init``.

    Attributes
    ----------
    name : str
        Variable name.
    inf, tau : Expression or None
        Steady state and time constant (ms) of a gate-form state, x' = (inf − x)/tau.
    derivative : Expression or None
        x' (per ms) of a state that is not in gate form.
    init : Expression or None
        Initial value; required without ``inf``, optional with it (default: ``inf`` at rest).
    """

    name: str
    inf: Expression | None = None
    tau: Expression | None = None
    derivative: Expression | None = None
    init: Expression | None = None

    @property
    def is_gate(self) -> bool:
        """True for x' = (inf − x)/tau."""
        return self.inf is not None


@dataclass(frozen=True)
class Table:
    """NEURON's TABLE of ``quantities`` over ``intervals`` equal steps from ``from_mV`` to ``to_mV``.

    Attributes
    ----------
    quantities : tuple of str
        Names computed in ``[rates]`` (x_inf, tau, ...) that depend on v and celsius only.
    from_mV, to_mV : float
        Range of v (mV).
    intervals : int
        Number of intervals; the table has ``intervals + 1`` entries per quantity.
    """

    quantities: tuple[str, ...]
    from_mV: float
    to_mV: float
    intervals: int


@dataclass(frozen=True)
class Mechanism:
    """A membrane mechanism read from ``models/mechanisms/<name>.toml`` (get one with `load_mechanism`).

    Attributes
    ----------
    name : str
        Mechanism name; its NEURON suffix is ``nsim_<name>``.
    description : str
        One line.
    parameters : dict of str to float
        Defaults (NEURON units).
    reads, writes : dict of str to tuple of str
        Per ion, the ion quantities read and written.
    functions : dict of str to (tuple of str, Assignment)
        Helper functions: argument names and body (assigning the function's name).
    initial, rates, assigned : tuple of Assignment
        Ordered assignments: frozen at initialisation, evaluated at each state update, and before
        the currents.
    states : tuple of State
        State variables in order.
    currents : tuple of Assignment
        Current densities (mA/cm², outward positive).
    table : Table or None
        NEURON TABLE of rate quantities.
    source_text : str
        The TOML text (for hashing).
    implicit : bool
        ``method = "derivimplicit"``: the states are advanced together by backward Euler, solved by
        Newton's method (NEURON's derivimplicit), with ``[rates]`` re-evaluated at every iterate.
    """

    name: str
    description: str
    parameters: dict[str, float]
    reads: dict[str, tuple[str, ...]]
    writes: dict[str, tuple[str, ...]]
    functions: dict[str, tuple[tuple[str, ...], Assignment]]
    initial: tuple[Assignment, ...]
    rates: tuple[Assignment, ...]
    states: tuple[State, ...]
    assigned: tuple[Assignment, ...]
    currents: tuple[Assignment, ...]
    table: Table | None
    source_text: str
    implicit: bool = False

    @property
    def suffix(self) -> str:
        """NEURON suffix: ``nsim_<name>`` (distinct from other packages' mechanisms)."""
        return f"nsim_{self.name}"

    def writes_concentration_of(self, ion: str) -> bool:
        """Whether the mechanism writes a concentration of ``ion`` (making the ion dynamic).

        Parameters
        ----------
        ion : str
            ``na``, ``k`` or ``ca``.

        Returns
        -------
        bool
            True if it writes the inside or outside concentration.
        """
        return any(q in self.writes.get(ion, ()) for q in ion_names(ion)[1:3])

    @property
    def writes_concentration(self) -> bool:
        """Whether the mechanism writes any ion concentration (NEURON updates these first)."""
        return any(self.writes_concentration_of(ion) for ion in IONS)

    @property
    def ion_states(self) -> tuple[str, ...]:
        """States that are ion concentrations."""
        return tuple(s.name for s in self.states if s.name in ION_QUANTITIES)

    @property
    def local_names(self) -> tuple[str, ...]:
        """Every name the mechanism defines (parameters, frozen, rates, states, assigned, currents)."""
        names = list(self.parameters)
        for group in (self.initial, self.rates, self.assigned, self.currents):
            names += [a.target for a in group]
        names += [s.name for s in self.states if s.name not in ION_QUANTITIES]
        for s in self.states:
            if s.is_gate:
                names += [f"{s.name}_inf", f"{s.name}_tau"]
        return tuple(dict.fromkeys(names))

    def nmodl(self) -> str:
        """The NMODL source NEURON compiles for this mechanism.

        Returns
        -------
        str
            A ``.mod`` file: SUFFIX ``nsim_<name>``, PARAMETER defaults at full precision, the same
            assignments in the same order as the Numba code, gates integrated with cnexp.
        """
        out = [f"TITLE nervesim mechanism {self.name}: {self.description}",
               "COMMENT", f"Generated by nervesim from models/mechanisms/{self.name}.toml; edit that file.",
               "ENDCOMMENT", "", "NEURON {", f"    SUFFIX {self.suffix}"]
        for ion in IONS:
            r, w = self.reads.get(ion, ()), self.writes.get(ion, ())
            if r or w:
                line = f"    USEION {ion}" + (f" READ {', '.join(r)}" if r else "") + (
                    f" WRITE {', '.join(w)}" if w else "")
                out.append(line)
        nonspecific = [a.target for a in self.currents if a.target not in ION_QUANTITIES]
        if nonspecific:
            out.append(f"    NONSPECIFIC_CURRENT {', '.join(nonspecific)}")
        ranges = list(self.parameters) + [a.target for a in self.initial + self.assigned + self.currents]
        ion_used = {q for ion in IONS for q in self.reads.get(ion, ()) + self.writes.get(ion, ())}
        ranges = [r for r in dict.fromkeys(ranges) if r not in ion_used]
        if ranges:
            out.append(f"    RANGE {', '.join(ranges)}")
        # Rate quantities are recomputed at every use; GLOBAL as in NEURON's own hh.mod (and TABLE needs it).
        rate_names = [a.target for a in self.rates] + [f"{s.name}_{x}" for s in self.states if s.is_gate
                                                       for x in ("inf", "tau")]
        if rate_names:
            out.append(f"    GLOBAL {', '.join(rate_names)}")
        out += ["}", "", "UNITS {", "    (mA) = (milliamp)", "    (mV) = (millivolt)",
                "    FARADAY = (faraday) (coulomb)", "}", "", "PARAMETER {"]
        out += [f"    {k} = {float(v)!r}" for k, v in self.parameters.items()]
        out += ["}", ""]
        gates = [s for s in self.states if s.is_gate]
        assigned = ["v (mV)", "celsius (degC)", "diam (um)"]
        ion_used = [q for ion in IONS for q in self.reads.get(ion, ()) + self.writes.get(ion, ())]
        assigned += [q for q in dict.fromkeys(ion_used) if q not in self.ion_states]
        assigned += [a.target for a in self.initial + self.rates + self.assigned]
        assigned += [a.target for a in self.currents if a.target not in ion_used]
        assigned += [f"{s.name}_{x}" for s in gates for x in ("inf", "tau")]
        out += ["ASSIGNED {"] + [f"    {a}" for a in dict.fromkeys(assigned)] + ["}", ""]
        if self.states:
            out += ["STATE {"] + [f"    {s.name}" for s in self.states] + ["}", ""]
        out += ["BREAKPOINT {"]
        if self.states:
            out.append(f"    SOLVE states METHOD {'derivimplicit' if self.implicit else 'cnexp'}")
        for a in self.assigned + self.currents:
            out += a.nmodl("    ")
        out += ["}", ""]
        if self.states:
            out += ["DERIVATIVE states {", "    rates(v)"]
            for s in self.states:
                rhs = f"({s.name}_inf - {s.name}) / {s.name}_tau" if s.is_gate else s.derivative.nmodl()
                out.append(f"    {s.name}' = {rhs}")
            out += ["}", ""]
        out += ["INITIAL {"]
        for a in self.initial:
            out += a.nmodl("    ")
        out.append("    rates(v)")
        for s in self.states:
            out.append(f"    {s.name} = {s.init.nmodl()}" if s.init is not None else f"    {s.name} = {s.name}_inf")
        out += ["}", "", "PROCEDURE rates(v (mV)) {"]
        if self.table is not None:
            t = self.table
            out.append(f"    TABLE {', '.join(t.quantities)} DEPEND celsius FROM {t.from_mV!r} TO {t.to_mV!r} "
                       f"WITH {t.intervals}")
        for a in self.rates:
            out += a.nmodl("    ")
        for s in gates:
            out += [f"    {s.name}_inf = {s.inf.nmodl()}", f"    {s.name}_tau = {s.tau.nmodl()}"]
        out += ["}", ""]
        for fname, (args, body) in self.functions.items():
            out += [f"FUNCTION {fname}({', '.join(args)}) {{"] + body.nmodl("    ") + ["}", ""]
        return "\n".join(out) + "\n"


def mechanism_names() -> list[str]:
    """Names of the mechanisms in ``models/mechanisms``.

    Returns
    -------
    list of str
        Sorted.
    """
    folder = resources.files("nervesim.models").joinpath("mechanisms")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


@functools.lru_cache(maxsize=None)
def load_mechanism(name: str) -> Mechanism:
    """Read and check one mechanism definition.

    Parameters
    ----------
    name : str
        File name without ``.toml`` in ``models/mechanisms``.

    Returns
    -------
    Mechanism

    Raises
    ------
    ParameterError
        For an unknown name (parameter ``mechanism``).
    ValueError
        For a malformed definition (names the file and entry).
    """
    if name not in mechanism_names():
        raise ParameterError("mechanism", f"unknown mechanism {name!r}: choose one of {', '.join(mechanism_names())}")
    text = resources.files("nervesim.models").joinpath("mechanisms", f"{name}.toml").read_text()
    d = tomllib.loads(text)
    where = f"mechanisms/{name}.toml"

    def group(key: str) -> tuple[Assignment, ...]:
        return tuple(Assignment.parse(k, v, f"{where}: {key}.{k}") for k, v in d.get(key, {}).items())

    ions = d.get("ions", {})
    unknown = set(ions) - set(IONS)
    if unknown:
        raise ValueError(f"{where}: unknown ions {sorted(unknown)}; allowed {list(IONS)}")
    states = []
    for sname, s in d.get("states", {}).items():
        loc = f"{where}: states.{sname}"
        if "inf" in s:
            init = Expression(s["init"], loc + ".init") if "init" in s else None
            states.append(State(sname, inf=Expression(s["inf"], loc + ".inf"), tau=Expression(s["tau"], loc + ".tau"),
                                init=init))
        else:
            states.append(State(sname, derivative=Expression(s["derivative"], loc + ".derivative"),
                                init=Expression(s["init"], loc + ".init")))
    functions = {}
    for fname, f in d.get("functions", {}).items():
        functions[fname] = (tuple(f["args"]), Assignment.parse(fname, {"cases": f["cases"]}, f"{where}: functions"))
    table = None
    if "table" in d:
        t = d["table"]
        table = Table(tuple(t["quantities"]), float(t["from_mV"]), float(t["to_mV"]), int(t["intervals"]))
    mech = Mechanism(
        name=d.get("name", name), description=d.get("description", ""),
        parameters={k: float(v) for k, v in d.get("parameters", {}).items()},
        reads={k: tuple(v.get("read", ())) for k, v in ions.items()},
        writes={k: tuple(v.get("write", ())) for k, v in ions.items()},
        functions=functions, initial=group("initial"), rates=group("rates"), states=tuple(states),
        assigned=group("assigned"), currents=group("currents"), table=table, source_text=text,
        implicit=_method(d, where) == "derivimplicit")
    _check_names(mech, where)
    return mech


def _method(d: dict, where: str) -> str:
    method = d.get("method", "cnexp")
    if method not in ("cnexp", "derivimplicit"):
        raise ValueError(f"{where}: method {method!r}: choose 'cnexp' or 'derivimplicit'")
    if method == "derivimplicit" and ("table" in d or any("inf" in s for s in d.get("states", {}).values())):
        raise ValueError(f"{where}: derivimplicit mechanisms take 'derivative' states and no table")
    return method


def _check_names(mech: Mechanism, where: str) -> None:
    """Every name an expression uses must be defined; ion quantities must be declared under [ions]."""
    declared_ion = {q for ion in IONS for q in mech.reads.get(ion, ()) + mech.writes.get(ion, ())}
    known = set(mech.local_names) | set(GLOBAL_NAMES) | declared_ion
    for fname, (args, body) in mech.functions.items():
        for x in body.expressions():
            bad = x.names - set(args) - {"FARADAY"}
            if bad:
                raise ValueError(f"{where}: function {fname} uses {sorted(bad)} besides its arguments")
    every = [x for group in (mech.initial, mech.rates, mech.assigned, mech.currents) for a in group
             for x in a.expressions()]
    every += [x for s in mech.states for x in (s.inf, s.tau, s.derivative, s.init) if x is not None]
    for x in every:
        bad = x.names - known
        if bad:
            raise ValueError(f"{x.where}: unknown names {sorted(bad)}")
        calls = x.calls - set(_MATH) - set(mech.functions)
        if calls:
            raise ValueError(f"{x.where}: unknown functions {sorted(calls)}")
    for a in mech.currents:
        if a.target in ION_QUANTITIES and a.target not in declared_ion:
            raise ValueError(f"{where}: current {a.target} needs its ion under [ions] with write = [{a.target!r}]")
    if mech.table is not None:
        rate_names = {a.target for a in mech.rates} | {f"{s.name}_{x}" for s in mech.states if s.is_gate
                                                       for x in ("inf", "tau")}
        missing = set(mech.table.quantities) - rate_names
        if missing:
            raise ValueError(f"{where}: table quantities {sorted(missing)} are not computed in [rates] or by gates")
