"""``export`` and ``import-promptfoo`` (filled in with the exporter)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    return None
