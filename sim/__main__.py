"""``python -m sim``: show and replay trace files."""

import sys

from ._cli import main

sys.exit(main(prog="python -m sim"))
