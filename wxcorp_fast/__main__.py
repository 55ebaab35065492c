"""Run the command line: ``python -m wxcorp_fast``."""

import sys

from wxcorp_fast.cli import main

if __name__ == "__main__":
    sys.exit(main())
