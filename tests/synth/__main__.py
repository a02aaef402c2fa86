"""Run the generator: `python -m tests.synth ...` (from the project root) or
`python tests/synth ...` (from anywhere)."""

import sys
from pathlib import Path

if __package__:
    from .cli import main
else:  # run as a directory: import the package from tests/, not its modules as top-level ones
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    from synth.cli import main

raise SystemExit(main())
