"""``python -m rnnlab``: the command line (:mod:`rnnlab.cli`)."""

import sys

from rnnlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
