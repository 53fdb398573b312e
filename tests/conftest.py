import importlib
import math
import os
import types

import numpy as np
import pytest

import nervesim
from nervesim.pyfibers_ref import ensure_pyfibers

#: Marks the skip reasons of `require`, so the summary can list them whatever ``-r`` says.
MISSING = "optional test tool missing"


def in_ci() -> bool:
    """True when the environment variable CI says this is a CI run (GitHub and most CIs set CI=true)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(what: str, fix: str) -> None:
    """A tool the tests need is absent: fail in CI (a CI run must never pass by skipping), else skip loudly."""
    message = f"{MISSING}: {what}; {fix}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: optional tools are required)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require(module: str) -> types.ModuleType:
    """Import ``module`` (part of ``.[test]``), or `missing` it; usable at module level and in tests."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""  # e.g. why nervesim.neuron could not import neuron
        missing(f"cannot import {module} ({exc}{cause})", "pip install -e '.[test]'")


def require_pyfibers() -> None:
    """PyFibers installed with its mechanisms compiled (`nervesim.pyfibers_ref.ensure_pyfibers` compiles them on
    first use), without importing it here (its import loads its own mechanisms into this process's NEURON)."""
    try:
        ensure_pyfibers()
    except ImportError as exc:
        missing(str(exc), "needed by the PyFibers comparisons")


def pytest_terminal_summary(terminalreporter) -> None:
    # Without -rs a skip is only an "s"; a missing tool must be seen.
    reasons = {r.longrepr[2] for r in terminalreporter.stats.get("skipped", ())
               if isinstance(r.longrepr, tuple) and MISSING in r.longrepr[2]}
    if reasons:
        terminalreporter.section("skipped: optional test tools missing")
        for reason in sorted(reasons):
            terminalreporter.line(reason)


@pytest.fixture(scope="session")
def nrn():
    """`nervesim.neuron` (NEURON), required in CI."""
    return require("nervesim.neuron")


@pytest.fixture(scope="session")
def fibre10():
    """MRG interpolation, 10 µm, 51 nodes: the project's reference case."""
    return nervesim.build_fibre("mrg-interp", 10.0, 51)


def digits(value, significant=6):
    """Half a unit in the last printed digit of ``value`` printed with ``significant`` digits."""
    return 0.5 * 10 ** (math.floor(math.log10(abs(value))) - significant + 1)


def rest_section(model, diameter_um=1.0, celsius=37.0):
    """One section of ``model`` initialised at its v_rest (gates at steady state), then one current
    evaluation (the ion totals in ``st``): (st, layout, par)."""
    m = nervesim.load_model(model)
    mem = m.membrane
    kernels, lay = mem.kernels(), mem.layout()
    par = mem.parameter_vector(diameter_um, celsius)
    st = np.zeros(lay["n_st"])
    v = m.definition["electrical"]["v_rest_mV"]
    kernels.membrane_init(v, st, par, celsius)
    kernels.membrane_current(v, st, par, celsius)
    return st, lay, par


def point_at_centre(fibre, distance_um, sigma=0.2):
    return nervesim.Electrode.point(distance_um, 0.0, fibre.node_z_um[fibre.centre_node], sigma)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def one_line_error(capsys, args) -> str:
    """Run the CLI with ``args``; assert exit status 2 with exactly one line on stderr; return that line."""
    from nervesim.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err
