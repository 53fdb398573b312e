"""What a fresh ``nervesim threshold`` process loads, and how it ends (its start-up cost, issue 12)."""
import gc
import json
import subprocess
import sys

import pytest

from nervesim.cli import main

THRESHOLD = ["threshold", "--model", "mrg-interp", "--diameter-um", "10", "--x-um", "1000", "--y-um", "0", "--sigma",
             "0.2", "--pulse", "mono", "--width-ms", "0.1", "--dt-ms", "0.005", "--tolerance", "0.01", "--json"]
#: Packages a threshold search never needs: plotting, progress bars, result stores, tables, the field solver and
#: the reference engines.
NOT_NEEDED = ["matplotlib", "tqdm", "pandas", "pyarrow", "dask", "neuron", "ngsolve", "nervesim.field",
              "nervesim.neuron", "nervesim.analyses", "nervesim.population", "nervesim.validate", "sqlite3"]


@pytest.fixture(scope="module")
def threshold_modules():
    """The modules loaded by a fresh process that ran `THRESHOLD` (and its JSON output)."""
    code = ("import json, sys; from nervesim.cli import main; main(sys.argv[1:]); "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code, *THRESHOLD], capture_output=True, text=True, check=True)
    result, modules = out.stdout.strip().splitlines()
    return json.loads(result), set(json.loads(modules))


@pytest.mark.parametrize("package", NOT_NEEDED)
def test_a_threshold_run_imports_only_what_it_needs(threshold_modules, package):
    result, modules = threshold_modules
    assert 0.12 < result["threshold_mA"] < 0.126  # the quick-start case ran (0.1235 mA)
    assert not {m for m in modules if m == package or m.startswith(package + ".")}


def test_the_process_command_freezes_its_objects_out_of_the_final_collection(monkeypatch, capsys):
    # Before: the interpreter's exit collections walked every object Numba built (~0.25 s of each process).
    assert gc.get_freeze_count() == 0
    try:
        monkeypatch.setattr(sys, "argv", ["nervesim", *THRESHOLD])
        assert main() == 0
        assert gc.get_freeze_count() > 10_000  # everything alive when the command ended
    finally:
        gc.unfreeze()
    assert main(THRESHOLD) == 0  # called with its arguments, as a library: nothing frozen
    assert gc.get_freeze_count() == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["n_runs"] > 0
