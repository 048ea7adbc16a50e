"""The ``profiler`` command line: a thin adapter over the engine and the workbook layer, on
click.  Nothing imports this package; it imports ``profiler`` and ``workbook``.

- ``app.py``: the command group and ``main``, where every error becomes one ``Error:`` line.
- ``options.py``: the options shared by commands (``--car``, ``--period``, ``--from/--to``,
  ``--as-of``, ``--csv/--json/--raw``, ``--wait``, the read options), and their types.
- ``output.py``: tables, CSV and progress on the terminal.
- one module per group of commands: ``sources`` (generate, validate, demo), ``build``,
  ``reconcile``, ``metrics``, ``clv``, ``cohorts`` (cohorts, summary, deep-dive, compare,
  retention, dashboard), ``audience``, ``workbook`` (workbook, refresh, snapshot).
- ``launcher.py``: the installed ``profiler`` script (glibc's allocator tuned, then ``main``).

Importing the package is cheap (the launcher re-executes before anything heavy loads): ``main``
loads the commands when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``profiler`` with ``argv`` (default: the process's arguments); the exit status."""
    from workbook.cli.app import main as run

    return run(argv)
