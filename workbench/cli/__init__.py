"""Command line: ``python -m workbench COMMAND``.

Contract: ``--json`` prints exactly one JSON object on stdout; progress and logs go to stderr;
failures exit non-zero with a one-line reason on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from workbench.errors import WorkbenchError

EXIT_FAILED = 1  # the command ran but the run failed / stopped
EXIT_USAGE = 2  # bad input
EXIT_BROKEN_PIPE = 141  # what a shell reports for a writer stopped by SIGPIPE (128 + 13)


def emit(obj: Any) -> None:
    """The one JSON object on stdout: valid JSON, so never NaN or Infinity (those fail loudly instead)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """A line for people, on stderr."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    from workbench.cli import commands_cascade, commands_export, commands_runs, commands_sweep, commands_users

    parser = argparse.ArgumentParser(
        prog="python -m workbench",
        description="Prompt workbench: sweep prompts x models x temperatures over labeled samples.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands_sweep.register(sub)
    commands_runs.register(sub)
    commands_export.register(sub)
    commands_cascade.register(sub)
    commands_users.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.handler(args) or 0)
    except WorkbenchError as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("interrupted: answers received so far are stored; re-run the same command to continue")
        return 130
    except BrokenPipeError:
        # The reader left (`... | head -2`): stop quietly, and keep Python's exit-time flush of
        # stdout from failing again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        reason = database_error(exc)
        if reason is None:
            raise
        say(f"error: the database refused: {reason}")
        return EXIT_FAILED
    finally:
        _stop_local_servers()


def database_error(exc: BaseException) -> str | None:
    """One line for a database failure (full disk, read-only file, lost connection), else None."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None or not isinstance(exc, sa_exc.SQLAlchemyError):
        return None
    from workbench.redaction import redact

    inner = getattr(exc, "orig", None) or exc
    return redact(" ".join(str(inner).split("\n")[0].split())[:200] or type(inner).__name__)


def _stop_local_servers() -> None:
    """Stop the llama.cpp servers this command started (only loaded when a local model was used)."""
    server = sys.modules.get("workbench.local.server")
    if server is not None:
        server.SERVERS.stop_all()
