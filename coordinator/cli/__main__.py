"""`python -m coordinator.cli`: the same as `dml`."""

import sys

from coordinator.cli import main

sys.exit(main())
