"""How a sweep's calls are delivered: standard, flex or batch. One place for the modes' facts.

- ``standard``: ordinary synchronous calls at the standard price.
- ``flex``: the same synchronous calls with ``"service_tier": "flex"`` in the body, billed at Batch API
  rates (OpenAI's Flex processing guide; the catalog's ``flex_factor``, null for models that do not
  offer it); slower, and may answer 429 ``resource_unavailable``.
- ``batch``: the calls go through the Batch API (``workbench/batch.py``): half price, answers within 24 h.

The mode is recorded on the run and never part of a request key: an answer bought one way is
reused by an identical request made another way.
"""

from __future__ import annotations

from workbench.errors import InputError
from workbench.pricing import DELIVERY

STANDARD, FLEX, BATCH = "standard", "flex", "batch"
MODES = DELIVERY  # (standard, flex, batch): the catalog prices each with its factor (pricing.delivery_factor)

# What each mode makes a user wait for (shown next to the estimate).
EXPECTED_WAIT = {
    STANDARD: "seconds to minutes (as fast as the rate limit allows)",
    FLEX: "slower than standard; calls may queue for minutes",
    BATCH: "usually minutes to hours, at most 24 hours",
}
LABEL = {STANDARD: "Standard", FLEX: "Flex (half price)", BATCH: "Batch API (half price)"}


def parse_delivery(value: str | None) -> str:
    """A delivery mode by name; a typo is a one-line error."""
    mode = (value or STANDARD).strip().lower()
    if mode not in MODES:
        raise InputError(f"delivery mode {value!r} is not one of {', '.join(MODES)}")
    return mode


def describe(mode: str | None, saving_usd: float | None = None) -> str:
    """How a run was delivered, and what that saved against standard calls ("batch, saved $0.0012")."""
    from workbench.formatting import money

    mode = mode or STANDARD
    if mode == STANDARD:
        return STANDARD
    saved = "saving unknown" if saving_usd is None else f"saved {money(saving_usd)} against standard"
    return f"{mode} (half price, {saved})"


def discounted(mode: str | None) -> bool:
    """Whether this mode is one of the half-price ones (flex, batch)."""
    return (mode or STANDARD) in (FLEX, BATCH)
