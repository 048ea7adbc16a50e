"""The ``profiler`` group: every command, registered here in one list, and ``main``, the one
place errors become one line.

``main`` keeps one contract for every command: a ``ProfilerError`` or an operating-system error
(permission denied, read-only or full disk, a file where a folder should be, a path too long, a
missing folder) is printed as one line, ``Error: ...``, on stderr and the exit status is 1; a
usage mistake (an unknown option, a bad date or period, a name that is no choice) is one line
``Error: ... (see 'profiler X --help')`` and status 2; a closed pipe (``| head``) ends quietly;
Ctrl-C is status 130.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from profiler import locks, readers
from profiler.errors import ProfilerError, clip
from profiler.memory import keep_freed_memory
from profiler.outputs import describe_os_error
from workbook.cli import audience, build, clv, cohorts, metrics, output, reconcile, sources
from workbook.cli import campaign as campaign_commands
from workbook.cli import customer as customer_commands
from workbook.cli import forget as forget_commands
from workbook.cli import migration as migration_commands
from workbook.cli import subject_access as subject_access_commands
from workbook.cli import workbook as workbook_commands

ERROR_LIMIT = 2_000  # characters of one error line; echoed input is cut to 200 where it is echoed
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Interrupted(Exception):
    """Ctrl-C inside a command, kept from click (which would print its own 'Aborted!')."""


class _PipeClosed(Exception):
    """stdout's reader has gone, kept from click (which would exit with status 1)."""


class ProfilerGroup(click.Group):
    """Commands listed in the order they are added (the order of the work), and a command's
    interruptions handed to ``main`` as they are."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted from None
        except BrokenPipeError:
            raise _PipeClosed from None


@click.group(
    "profiler",
    cls=ProfilerGroup,
    context_settings=CONTEXT,
    epilog="""\b
Example:
  profiler demo
  profiler build --data data/ --out car/ --as-of 2025-12-31
  profiler summary --car car/ --period r12:2025-12""",
)
def cli() -> None:
    """Customer Profiler: one trusted view of a retailer's customers.

    Every command has --help. Commands that read a CAR take --car DIR (default: $PROFILER_CAR).
    """


for command in (
    sources.generate,
    sources.validate,
    build.build,
    reconcile.reconcile,
    metrics.metrics,
    clv.clv,
    cohorts.cohorts,
    cohorts.summary,
    cohorts.deep_dive,
    cohorts.compare,
    cohorts.retention,
    cohorts.dashboard,
    migration_commands.migration,
    audience.audience,
    campaign_commands.campaign,
    customer_commands.customer,
    subject_access_commands.subject_access,
    workbook_commands.workbook,
    workbook_commands.refresh,
    workbook_commands.snapshot,
    sources.demo,
    forget_commands.forget,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``profiler`` with ``argv`` (default: the process's arguments); the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    locks.set_command(args)
    keep_freed_memory()
    readers.choose(delimiter=None, decimal=None, encoding=None, date_format=None, sheet=None)
    try:
        return int(cli.main(args, prog_name="profiler", standalone_mode=False) or 0)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "profiler"
        message = clip(exc.format_message(), ERROR_LIMIT)
        print(f"Error: {message} (see '{where} --help')", file=sys.stderr)
        return 2
    except click.ClickException as exc:
        print(f"Error: {clip(exc.format_message(), ERROR_LIMIT)}", file=sys.stderr)
        return exc.exit_code
    except ProfilerError as exc:
        print(f"Error: {clip(exc, ERROR_LIMIT)}", file=sys.stderr)
        return 1
    except (_Interrupted, click.Abort, KeyboardInterrupt):
        print("Error: interrupted", file=sys.stderr)
        return 130
    except (_PipeClosed, BrokenPipeError):
        # The reader (e.g. `| head`) has gone: stop quietly, as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # Every command's file-system trouble, in one place: writers leave no partial output
        # (profiler/outputs.py, profiler/store.py), so one line is all that is left to do.
        print(f"Error: {clip(describe_os_error(exc), ERROR_LIMIT)}", file=sys.stderr)
        return 1
    finally:
        output.RAW_CSV = False
