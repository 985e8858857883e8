"""Prompt workbench: pick the cheapest model and prompt that is good enough, and prove it.

The core library. Nothing here is created at import time: engines, clients and settings come from
factories that take a :class:`workbench.config.Settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.api import Session
    from workbench.config import Settings

__version__ = "0.1.0"


def open(settings: Settings | None = None) -> Session:
    """The workbench for ``settings`` (default: from the environment, like the CLI): see :mod:`workbench.api`."""
    from workbench.api import open_workbench

    return open_workbench(settings)
