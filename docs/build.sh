#!/usr/bin/env bash
# Build the HTML documentation into docs/_build/html; any Sphinx warning fails the build (exit 1),
# after all warnings have been reported. Needs the docs extras: pip install -e '.[docs]'
set -euo pipefail
cd "$(dirname "$0")"
python -m sphinx -b html -E -W --keep-going -q . _build/html "$@"
