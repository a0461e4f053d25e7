"""``python -m fleet.lab.simtools TOOL [ARGS...]``: run one simulated tool."""

import sys

from fleet.lab.simtools import main

sys.exit(main(sys.argv[1:]))
