"""``python -m nervesim.cli``: the same as the ``nervesim`` command."""
import sys

from . import main

sys.exit(main())
