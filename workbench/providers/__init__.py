"""Model providers: one normalised :class:`Completion` from any OpenAI-compatible endpoint."""

from workbench.providers.base import Completion, RateInfo
from workbench.providers.openai_compat import OpenAIProvider, make_provider

__all__ = ["Completion", "OpenAIProvider", "RateInfo", "make_provider"]
