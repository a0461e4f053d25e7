"""``python -m fleet.lab.runtime serve DIR --ready-fd N``: the supervisor, as ``lab up`` starts it."""

import sys

from fleet.lab.runtime.supervisor import main

sys.exit(main())
