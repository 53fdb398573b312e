"""Compiled kernels live in the user cache directory, never in the package (issue: stale Numba files in
site-packages/nervesim/__pycache__ outlived `pip uninstall` and shadowed a later editable install)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nervesim

PROBE = """
import json, numba
from numba.core.registry import CPUDispatcher
import nervesim
kernels = nervesim.load_model("mrg-interp").membrane.kernels()
paths = [obj._cache._cache_path for obj in vars(kernels).values()
         if isinstance(obj, CPUDispatcher) and obj._cache.__class__.__name__ == "FunctionCache"]
print(json.dumps({"numba_cache_dir": numba.config.CACHE_DIR, "paths": paths, "module": kernels.__file__}))
"""


def probe(env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NERVESIM_CACHE_DIR")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_kernels_cache_outside_the_package(tmp_path):
    found = probe({"NERVESIM_CACHE_DIR": str(tmp_path)})
    package = Path(nervesim.__file__).resolve().parent
    assert len(found["paths"]) >= 5  # every cached kernel of the generated module
    assert Path(found["module"]).resolve().is_relative_to(tmp_path / "kernels")
    for path in found["paths"]:
        assert Path(path).resolve().is_relative_to(tmp_path / "numba")
        assert not Path(path).resolve().is_relative_to(package)


def test_numba_cache_dir_set_by_the_user_wins(tmp_path):
    found = probe({"NUMBA_CACHE_DIR": str(tmp_path / "mine"), "NERVESIM_CACHE_DIR": str(tmp_path / "ours")})
    assert all(Path(p).is_relative_to(tmp_path / "mine") for p in found["paths"])
    assert Path(found["module"]).is_relative_to(tmp_path / "ours" / "kernels")
