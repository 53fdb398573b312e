"""Where nervesim keeps what it compiles: ``$NERVESIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/nervesim``
(default ``~/.cache/nervesim``).

Compiled kernels never go into the package directory: files there outlive ``pip uninstall`` and
can shadow a later (e.g. editable) install of nervesim.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_root() -> Path:
    """The user cache directory of nervesim.

    Returns
    -------
    pathlib.Path
        ``$NERVESIM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/nervesim``, else
        ``~/.cache/nervesim``. Not created here.
    """
    env = os.environ.get("NERVESIM_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nervesim"


def configure_numba_cache() -> None:
    """Send Numba's on-disk kernel cache to ``cache_root()/numba`` unless ``NUMBA_CACHE_DIR`` is set.

    Sets ``NUMBA_CACHE_DIR`` in ``os.environ`` (so worker processes inherit it) and, if Numba is
    already imported, its ``config.CACHE_DIR``. Must run before any ``@njit(cache=True)`` function
    is defined; ``nervesim/__init__`` calls it first.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    path = str(cache_root() / "numba")
    os.environ["NUMBA_CACHE_DIR"] = path
    if "numba" in sys.modules:  # numba read its configuration already
        sys.modules["numba"].config.CACHE_DIR = path
