"""Sphinx extension of the nervesim docs.

- ``.. nervesim-cli::`` renders ``nervesim --help`` and every subcommand's ``--help`` from
  `nervesim.cli.build_parser`, so the CLI page cannot drift from the parser.
- Re-exported and imported names resolve: `nervesim.Stimulation` (or `ParameterError` in a module
  that imports it) links to the object's own page, `nervesim.simulation.Stimulation`; any other
  bare name links to the one nervesim object of that name, if there is exactly one.
- Docstring checks: every public function, class, method and property of the modules in the
  ``nervesim_modules`` setting is validated with numpydoc's validator (codes in ``nervesim_checks``),
  undocumented objects included, and each problem is a Sphinx warning located at the object's
  file:line (numpydoc's own validation names the object only). A dataclass field may be documented
  under Attributes instead of Parameters.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from numpydoc.docscrape import Parameter
from numpydoc.docscrape_sphinx import get_doc_object
from numpydoc.validate import validate
from sphinx.ext.autodoc.mock import mock
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
HELP_COLUMNS = "100"  # argparse wraps help to $COLUMNS; fixed so the page does not depend on the terminal


def _rst_escape(text: str) -> str:
    return re.sub(r"([\\`*_|\[\]<>])", r"\\\1", text)


def _literal(text: str) -> list[str]:
    return [".. code-block:: text", ""] + ["   " + line if line else "" for line in text.splitlines()] + [""]


def cli_rst(parser: argparse.ArgumentParser) -> list[str]:
    """reStructuredText of the top-level help and one section per subcommand."""
    lines = _literal(parser.format_help())
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for choice in sub._choices_actions:
        title = f"``{sub.choices[choice.dest].prog}``"
        lines += [title, "-" * len(title), "", _rst_escape(choice.help or ""), ""]
        lines += _literal(sub.choices[choice.dest].format_help())
    return lines


class CliDirective(SphinxDirective):
    """``.. nervesim-cli::``: the help of ``nervesim`` and of each subcommand."""

    def run(self):
        from nervesim.cli import build_parser

        old = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = HELP_COLUMNS
        try:
            text = cli_rst(build_parser())
        finally:
            if old is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = old
        self.env.note_dependency(str(REPO / "nervesim" / "cli"))
        content = StringList(text, source="nervesim.cli.build_parser")
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, content, node)
        return node.children


def public_objects(module) -> list[tuple[str, object]]:
    """(qualified name, object) of the public functions, classes, methods and properties defined in ``module``."""
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        target = getattr(obj, "py_func", obj)  # a Numba dispatcher documents its Python function
        if not (inspect.isfunction(target) or inspect.isclass(target)) or target.__module__ != module.__name__:
            continue
        out.append((f"{module.__name__}.{name}", target))
        if inspect.isclass(target):
            for attr, member in vars(target).items():
                if attr.startswith("_"):
                    continue
                if isinstance(member, (classmethod, staticmethod)):
                    member = member.__func__
                if inspect.isfunction(member) or isinstance(member, property):
                    out.append((f"{module.__name__}.{name}.{attr}", member))
    return out


def _location(obj) -> str:
    target = obj.fget if isinstance(obj, property) else obj
    try:
        path = Path(inspect.getsourcefile(target)).resolve()
        line = inspect.getsourcelines(target)[1]
    except (TypeError, OSError):
        return "unknown:0"
    return f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{line}"


def docstring_problems(name: str, obj, checks: set[str]) -> list[str]:
    """numpydoc validation problems of one object, restricted to ``checks``."""
    if isinstance(obj, property):  # numpydoc cannot validate a property; it needs a docstring
        return [] if obj.__doc__ or "GL08" not in checks else ["GL08: The object does not have a docstring"]
    doc = get_doc_object(obj)
    if inspect.isclass(obj):
        # Dataclass fields documented as Attributes count as documented constructor parameters.
        try:
            params = set(inspect.signature(obj).parameters)
        except (TypeError, ValueError):
            params = set()
        def names(entry):  # numpydoc allows "a, b : type" for several names
            return {n.strip() for n in entry.name.split(",")}

        documented = set().union(*(names(p) for p in doc["Parameters"]))
        # This copy of the docstring is only validated, never rendered: private fields (``_cache``)
        # need no documentation.
        doc["Parameters"] = doc["Parameters"] + [a for a in doc["Attributes"]
                                                 if names(a) <= params and not names(a) & documented] + [
            Parameter(p, "", ["private"]) for p in params if p.startswith("_") and p not in documented]
    try:
        errors = validate(doc)["errors"]
    except Exception as exc:  # e.g. a source file being edited while the docs build
        return [f"not validated: {exc}"]
    return [f"{code}: {message}" for code, message in errors if code in checks]


def check_docstrings(app) -> None:
    checks = set(app.config.nervesim_checks)
    with mock(app.config.autodoc_mock_imports):
        modules = [importlib.import_module(m) for m in app.config.nervesim_modules]
    for module in modules:
        for name, obj in public_objects(module):
            for problem in docstring_problems(name, obj, checks):
                logger.warning(f"{name}: {problem}", location=_location(obj), type="nervesim", subtype="docstring")


def _lookup(dotted: str):
    """The object named by a dotted path, importing the longest module prefix; None if none."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def resolve_reexport(app, env, node, contnode):
    """Resolve a Python reference that failed through the object's defining module."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    context = [node.get("py:module"), ".".join(filter(None, (node.get("py:module"), node.get("py:class"))))]
    for dotted in [target] + [f"{c}.{target}" for c in context if c]:
        if not dotted.startswith("nervesim"):
            continue
        obj = _lookup(dotted)
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if not (module and qualname) or f"{module}.{qualname}" == dotted:
            continue
        return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                                 f"{module}.{qualname}", node, contnode)
    # A bare name quoted outside its module (e.g. in an autosummary line): the one nervesim object so named.
    matches = [name for name in env.get_domain("py").objects
               if name.startswith("nervesim.") and name.endswith("." + target)]
    if len(matches) == 1:
        return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                                 matches[0], node, contnode)
    return None


def setup(app):
    app.add_config_value("nervesim_modules", [], "env")
    app.add_config_value("nervesim_checks", [], "env")
    app.add_directive("nervesim-cli", CliDirective)
    app.connect("builder-inited", check_docstrings)
    app.connect("missing-reference", resolve_reexport)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
