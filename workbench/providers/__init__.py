"""Model providers: one normalised :class:`Completion` from any OpenAI-compatible endpoint.

The openai SDK is imported on first use of :class:`OpenAIProvider`, so commands that make no call
(``runs``, ``show``, ``estimate``) start without paying for it.
"""

from typing import Any

from workbench.providers.base import Completion, RateInfo

__all__ = ["Completion", "OpenAIProvider", "RateInfo", "make_provider"]


def __getattr__(name: str) -> Any:
    if name in ("OpenAIProvider", "make_provider"):
        from workbench.providers import openai_compat

        return getattr(openai_compat, name)
    raise AttributeError(name)
