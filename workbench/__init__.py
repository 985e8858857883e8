"""Prompt workbench: pick the cheapest model and prompt that is good enough, and prove it.

The core library. Nothing here is created at import time: engines, clients and settings come from
factories that take a :class:`workbench.config.Settings`.
"""

__version__ = "0.1.0"
