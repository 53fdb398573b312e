"""Sphinx configuration of the nervesim documentation (build: ``docs/build.sh``)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import nervesim  # noqa: E402

project = "nervesim"
release = version = nervesim.__version__
author = "nervesim contributors"
copyright = "nervesim contributors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "nervesim_docs",
]

exclude_patterns = ["_build"]
# Single backticks in docstrings (`Stimulation`, `nervesim.fibre.Fibre`) are Python cross-references.
default_role = "py:obj"

# Every cross-reference to nervesim must resolve. Types of other packages (numpy.ndarray, pathlib.Path in
# signatures) stay plain text: linking them would need intersphinx, i.e. the network at build time.
nitpicky = True
nitpick_ignore_regex = [("py:class", r"(?!nervesim\.).*")]

# NEURON is optional: nervesim.neuron is documented from its source without importing it.
autodoc_mock_imports = ["neuron", "ngsolve", "netgen", "scipy"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False

# Members are listed by autodoc's :members:, so numpydoc's own member tables would duplicate them.
numpydoc_show_class_members = False
numpydoc_attributes_as_param_list = True
# numpydoc's built-in validation reports no file or line; nervesim_docs runs the same checks on every
# public object of every module in ``nervesim_modules`` (documented or not) and reports file:line.
nervesim_modules = [
    "nervesim", "nervesim.fibre", "nervesim.model", "nervesim.extracellular", "nervesim.waveform",
    "nervesim.simulation", "nervesim.threshold", "nervesim.analyses", "nervesim.population", "nervesim.sweep",
    "nervesim.neuron", "nervesim.validate", "nervesim.pyfibers_ref", "nervesim.errors", "nervesim.cache",
    "nervesim.solver", "nervesim.mechanism", "nervesim.membrane", "nervesim.field", "nervesim.field.spec",
    "nervesim.field.field", "nervesim.field.mesh", "nervesim.field.solve", "nervesim.field.analytic",
    "nervesim.field.plot", "nervesim.field.shapes", "nervesim.field.p2",
]
nervesim_checks = ["GL08", "PR01", "PR02", "PR07", "RT01", "RT03"]

html_theme = "alabaster"
html_title = f"nervesim {release}"
html_static_path: list[str] = []
