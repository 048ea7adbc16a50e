"""The ``profiler`` command: the command line, with glibc's allocator tuned from the start.

``profiler/memory.py`` explains the tuning (large blocks from one heap, kept after ``free`` for
reuse) and why it is set in the environment: the command re-executes itself once with it on
Linux (``relaunch_tuned``); elsewhere, or when the variables are already set, it runs as it is.
"""

from __future__ import annotations

import sys

from profiler.memory import relaunch_tuned


def main() -> int:
    # -P: the working folder is not put on the import path (a module there named like one of
    # ours or our dependencies' must not shadow it).
    relaunch_tuned([sys.executable, "-P", "-m", "workbook.cli", *sys.argv[1:]])
    from workbook.cli import main as cli_main

    return cli_main()
