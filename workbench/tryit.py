"""Try it: one call of a prompt on one input, paid, stored and counted like a sweep's answer.

The answer is stored as a response under the same request key a sweep would give that call
(repeat 0), attributed to who asked and which key paid (``paid_by``, ``key_kind``), so it counts
in their spend and the budgets, and a sweep that includes the same call reuses it for free. An
identical request already answered is shown again from the store, not paid again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from workbench.chat import request_body, request_key
from workbench.pricing import answer_cost
from workbench.promptfile import PromptFile
from workbench.providers.base import Completion
from workbench.redaction import redact_url
from workbench.storage import answers
from workbench.storage import repository as repo
from workbench.storage.models import Response
from workbench.sweep import cell_settings

if TYPE_CHECKING:
    from workbench.service import Workbench


@dataclass(frozen=True)
class Tried:
    completion: Completion
    cost_usd: Decimal | None  # None: unknown (no price, or no usage reported)
    reused: bool  # the identical request was answered before: shown from the store, not paid again
    response_id: int


def endpoint(wb: Workbench, model: str) -> str:
    """Where ``model``'s calls go, named as a plan names it (so the request key is the sweep's)."""
    local = wb.local.get(model)
    return redact_url(local.endpoint if local is not None else wb.settings.base_url.rstrip("/"))


def body_for(
    wb: Workbench,
    prompt: PromptFile,
    model: str,
    values: dict[str, str],
    *,
    effort: str | None = None,
    temperature: float | None = None,
) -> dict[str, Any]:
    """The body a sweep's cell (``model`` at ``effort`` and ``temperature``) sends for ``values``.

    Built as the planner builds it — only what the catalog says the model takes at that effort
    (a temperature only where it takes one, ``max_completion_tokens`` with room to reason) — so the
    server is not sent what it refuses and a sweep with that cell reuses this answer.
    """
    info = wb.catalog.lookup(model)
    temperatures = [] if temperature is None else [temperature]
    settings = cell_settings(info, [effort] if effort else [], temperatures or [0.0])
    sent_effort, sent_temperature = settings[0]
    return request_body(prompt, model, sent_temperature if temperatures else None, values, sent_effort, info)


def try_prompt(
    wb: Workbench,
    body: dict[str, Any],
    *,
    paid_by: str | None,
    key_kind: str | None,
    on_text: Callable[[str], None] | None = None,
) -> Tried:
    """Answer ``body`` (streamed to ``on_text``), from the store when it was answered before."""
    model = str(body["model"])
    where = endpoint(wb, model)
    key = request_key(where, body, 0)
    stored = repo.stored_keys(wb.engine, [key])
    if key in stored:
        with Session(wb.engine) as session:
            row = session.get(Response, stored[key])
        if row is not None and row.id is not None:
            return Tried(_completion(row), None if row.cost_usd is None else Decimal(str(row.cost_usd)), True, row.id)
    completion = wb.provider.provider(model).stream(body, on_text=on_text)  # type: ignore[attr-defined]
    price = answer_cost(wb.catalog.lookup(model), completion)
    response_id = answers.store_one(
        wb.engine,
        key,
        where,
        model,
        body,
        completion,
        price,
        price_version=wb.catalog.version,
        paid_by=paid_by,
        key_kind=key_kind,
    )
    return Tried(completion, price, False, response_id)


def _completion(row: Response) -> Completion:
    return Completion(
        text=row.output or "",
        finish_reason=row.finish_reason,
        prompt_tokens=row.prompt_tokens,
        cached_tokens=row.cached_tokens,
        completion_tokens=row.completion_tokens,
        latency_ms=row.latency_ms or 0.0,
        ttft_ms=row.ttft_ms,
        response_model=row.response_model,
        reasoning_tokens=row.reasoning_tokens,
        cache_write_tokens=row.cache_write_tokens,
    )
