"""``python -m workbook.cli``: the command line (the ``profiler`` script re-executes this)."""

import sys

from workbook.cli import main

sys.exit(main())
