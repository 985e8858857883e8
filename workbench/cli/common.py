"""Helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import threading
import time

from workbench import formatting as fmt
from workbench.config import Settings
from workbench.errors import InputError
from workbench.runner import Progress
from workbench.service import Workbench


def open_workbench(settings: Settings | None = None, write: bool = False) -> Workbench:
    """The workbench for a command; ``write`` for commands that store something (a read-only
    database is refused at once, naming the file; reading commands open it read-only)."""
    return Workbench.open(settings or Settings.from_env(), write=write)


def run_id_arg(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"run id must be a number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("run id must be positive")
    return number


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {number}")
    return number


def money(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an amount in USD, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError("a budget cannot be negative")
    return number


class ProgressPrinter:
    """Progress on stderr: one updating line on a terminal, a line every few seconds otherwise."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        final = p.done >= p.total
        if not self.tty and not final and now - self._last < 5:
            return
        self._last = now
        eta = f", ~{p.eta_s:.0f}s left" if p.eta_s is not None and not final else ""
        line = (
            f"{p.done}/{p.total} done ({p.reused} reused, {p.new_calls} new, {p.errors} errors), "
            f"spent {fmt.money(p.spent_usd)}, concurrency {p.concurrency}{eta}"
        )
        if self.tty:
            sys.stderr.write("\r" + line.ljust(100) + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def calls_starting() -> None:
    """A sweep's calls start: what start-up made lives until exit, so freeze it out of the garbage
    collector's scans and turn the collector back on if ``python -m workbench`` turned it off."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def load_in_background(*modules: str) -> threading.Thread:
    """Import ``modules`` in a daemon thread: the results summary's pandas loads while the calls are in flight.

    A sweep's calls wait on the network; the summary after them needs pandas and the metrics. Loading
    them meanwhile takes their import time off the end of the command. An import that fails here
    fails again, with its message, where the module is used.
    """

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # reported where the module is really imported
                return

    thread = threading.Thread(target=load, name="workbench-preload", daemon=True)
    thread.start()
    return thread


def require(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(message)
