"""Sub-commands of ``profiler``, one module each.

Each module defines ``register(subparsers)`` adding its parser(s) with ``set_defaults(func=...)``;
``workbook.cli`` finds the modules here by itself, so adding a command never edits the CLI core.
Helpers shared by the commands (progress, table printing) live in ``workbook.cli_output``.
"""
