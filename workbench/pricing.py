"""Model catalog and the one cost function.

Prices are data (``workbench/data/models.yaml``, overridable with ``WORKBENCH_CATALOG``), each
with its date and source. Cost is computed from the usage the API returned, in ``Decimal`` so
sums are exact to the micro-cent; an unknown model has cost ``None`` ("unknown"), never 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from workbench.errors import InputError

if TYPE_CHECKING:
    from workbench.providers.base import Completion

PER = Decimal(1_000_000)
# gpt-4.1-nano-2025-04-14 -> gpt-4.1-nano ; gpt-4o-2024-08-06 -> gpt-4o
_SNAPSHOT = re.compile(r"^(?P<family>.+?)-(?:\d{4}-\d{2}-\d{2}|\d{4})$")
RULES = ("always", "never", "effort_none")
# Every reasoning effort OpenAI's chat completions know, lowest first (each model takes some of them).
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")  # when a model takes temperature / logprobs
DELIVERY = ("standard", "flex", "batch")
# Reasoning tokens per call at each effort: the range an estimate assumes before a database has seen
# any (it prices the upper end), and the room a request leaves for reasoning. A prompt's
# ``max_tokens`` budgets its *answer*; OpenAI counts a reasoning model's thinking against the same
# ``max_completion_tokens``, so a cap of 5 would cut every answer off at effort low (empty content,
# finish ``length``, paid). A reasoning request is therefore sent the answer's budget plus the upper
# end here (see :func:`reasoning_room`); a prompt that sets ``max_completion_tokens`` itself is sent
# exactly that. Classification answers reason far less than OpenAI's general advice to reserve
# ~25,000 tokens; the room stays a cost guard, and answers cut off anyway are counted per cell.
REASONING_RANGE = {
    "none": (0, 0),
    "minimal": (0, 100),
    "low": (50, 600),
    "medium": (200, 2_000),
    "high": (1_000, 8_000),
    "xhigh": (2_000, 16_000),
    "max": (4_000, 32_000),
}
RETIRING_DAYS = 60  # a model shutting down within this many days gets a warning (and is no default)


def _rule(value: Any, field: str, name: str, source: str) -> str:
    if value is True or value is None:
        return "always"
    if value is False:
        return "never"
    if value in RULES:
        return str(value)
    raise InputError(f"{source}: model {name!r}: {field} must be one of {', '.join(RULES)} (got {value!r})")


@dataclass(frozen=True)
class LongContext:
    """Above ``above`` input tokens the whole request is billed at these multiples."""

    above: int
    input: Decimal  # input, cached input and cache writes
    output: Decimal


@dataclass(frozen=True)
class ModelInfo:
    name: str
    input: Decimal
    cached_input: Decimal
    output: Decimal
    batch_factor: Decimal
    context_window: int | None
    temperature_rule: str  # always | never | effort_none
    logprobs_rule: str
    shutdown: str | None
    as_of: str
    source: str
    note: str = ""
    provider: str = "openai"  # "local": answered on this machine (workbench/local), not by OPENAI_BASE_URL
    cache_write: Decimal | None = None  # None: cache writes cost the input price
    long_context: LongContext | None = None
    flex_factor: Decimal | None = None  # None: Flex processing not offered
    efforts: tuple[str, ...] = ()  # reasoning efforts accepted; empty: not a reasoning model
    default_effort: str | None = None
    max_tokens_param: str = "max_tokens"
    verbosity: bool = False
    replacement: str | None = None
    lifecycle_as_of: str = ""
    lifecycle_source: str = ""

    @property
    def local(self) -> bool:
        return self.provider == "local"

    @property
    def free(self) -> bool:
        """No charge per token: a call costs a known $0 even when the server reports no usage."""
        return self.input == 0 and self.cached_input == 0 and self.output == 0

    @property
    def reasoning(self) -> bool:
        return bool(self.efforts)

    def _allowed(self, rule: str, effort: str | None) -> bool:
        if rule == "always":
            return True
        if rule == "never":
            return False
        return (effort or self.default_effort) == "none"

    def takes_temperature(self, effort: str | None = None) -> bool:
        """Whether a request at ``effort`` (None: not sent, the model's default) may carry a temperature."""
        return self._allowed(self.temperature_rule, effort)

    def takes_logprobs(self, effort: str | None = None) -> bool:
        return self._allowed(self.logprobs_rule, effort)

    @property
    def temperature(self) -> bool:
        """Takes a temperature when no effort is sent."""
        return self.takes_temperature(None)

    @property
    def logprobs(self) -> bool:
        """Takes logprobs when no effort is sent."""
        return self.takes_logprobs(None)

    def reasoning_room(self, effort: str | None = None) -> int:
        """Tokens a request at ``effort`` (None: the model's default) leaves for reasoning above the answer."""
        if not self.reasoning:
            return 0
        level = effort or self.default_effort or "medium"
        return REASONING_RANGE.get(level, (0, 32_000))[1]

    def days_left(self, today: date | None = None) -> int | None:
        """Days until shutdown (negative: already shut down); None when none is announced."""
        if not self.shutdown:
            return None
        return (date.fromisoformat(self.shutdown) - (today or date.today())).days

    def retired(self, today: date | None = None) -> bool:
        days = self.days_left(today)
        return days is not None and days <= 0

    def retiring(self, today: date | None = None, within: int = RETIRING_DAYS) -> bool:
        """Shut down, or shutting down within ``within`` days."""
        days = self.days_left(today)
        return days is not None and days <= within

    def lifecycle_text(self) -> str:
        """'shut down on 2026-10-23; OpenAI suggests gpt-5.6-luna' (or 'shuts down on ...')."""
        if not self.shutdown:
            return ""
        verb = "shut down" if self.retired() else "shuts down"
        text = f"{verb} on {self.shutdown}"
        return f"{text}; OpenAI suggests {self.replacement}" if self.replacement else text


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelInfo]
    version: str
    default_models: tuple[str, ...] = ()

    @classmethod
    def load(cls, override: str | Path | None = None) -> Catalog:
        """The bundled catalog, with the entries of ``override`` (a YAML file) laid over it."""
        base = yaml.safe_load(resources.files("workbench.data").joinpath("models.yaml").read_text("utf-8"))
        catalog = cls._from_data(base, "bundled catalog")
        if override:
            path = Path(override)
            try:
                extra = yaml.safe_load(path.read_text("utf-8"))
            except FileNotFoundError:
                raise InputError(f"{path}: no such catalog file (WORKBENCH_CATALOG)") from None
            except yaml.YAMLError:
                raise InputError(f"{path}: broken YAML in catalog file") from None
            more = cls._from_data(extra, str(path))
            catalog = Catalog(
                {**catalog.models, **more.models},
                more.version or catalog.version,
                more.default_models or catalog.default_models,
            )
        return catalog

    @staticmethod
    def _from_data(data: Any, source: str) -> Catalog:
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise InputError(f"{source}: a catalog needs a 'models' mapping")
        defaults = data.get("defaults") or {}
        models = {}
        for name, entry in data["models"].items():
            models[str(name)] = _entry(str(name), {**defaults, **(entry or {})}, source)
        pair = data.get("default_models") or ()
        if not isinstance(pair, list | tuple) or not all(isinstance(m, str) for m in pair):
            raise InputError(f"{source}: default_models must be a list of model names")
        return Catalog(models, str(data.get("version", "")), tuple(pair))

    def with_local(self, names: Iterable[str], source: str) -> Catalog:
        """This catalog plus free ``provider: local`` entries for ``names`` it does not price yet.

        A model that runs on your own machine costs nothing per token: its cost is a known $0, not
        "unknown".
        """
        extra = {
            name: ModelInfo(
                name=name,
                input=Decimal(0),
                cached_input=Decimal(0),
                output=Decimal(0),
                batch_factor=Decimal(1),
                context_window=None,
                temperature_rule="always",
                logprobs_rule="never",
                shutdown=None,
                as_of="",
                source=source,
                note="local model: no charge per token",
                provider="local",
            )
            for name in names
            if name not in self.models
        }
        return Catalog({**self.models, **extra}, self.version, self.default_models) if extra else self

    def lookup(self, model: str) -> ModelInfo | None:
        """The entry for ``model``; dated snapshots resolve to their family."""
        if model in self.models:
            return self.models[model]
        match = _SNAPSHOT.match(model)
        if match and match.group("family") in self.models:
            return self.models[match.group("family")]
        return None

    def default_pair(self, today: date | None = None) -> list[str]:
        """The cheap model and the next one up among ``default_models`` not retiring within 60 days."""
        usable = [
            name for name in self.default_models if (info := self.lookup(name)) is not None and not info.retiring(today)
        ]
        return usable[:2]


def _entry(name: str, merged: dict[str, Any], source: str) -> ModelInfo:
    try:
        reasoning = merged.get("reasoning") or {}
        efforts = tuple(str(e) for e in (reasoning.get("efforts") or ()))
        default_effort = reasoning.get("default")
        if efforts and default_effort is not None and str(default_effort) not in efforts:
            raise ValueError(f"reasoning default {default_effort!r} is not one of its efforts")
        long = merged.get("long_context")
        shutdown = merged.get("shutdown")
        if shutdown:
            date.fromisoformat(str(shutdown))
        return ModelInfo(
            name=name,
            input=_decimal(merged["input"]),
            cached_input=_decimal(merged.get("cached_input", merged["input"])),
            output=_decimal(merged["output"]),
            batch_factor=_decimal(merged.get("batch_factor", 1)),
            context_window=merged.get("context_window"),
            temperature_rule=_rule(merged.get("temperature"), "temperature", name, source),
            logprobs_rule=_rule(merged.get("logprobs"), "logprobs", name, source),
            shutdown=str(shutdown) if shutdown else None,
            as_of=str(merged.get("as_of", "")),
            source=str(merged.get("source", "")),
            note=str(merged.get("note", "")),
            provider=str(merged.get("provider") or "openai"),
            cache_write=_decimal(merged["cache_write"]) if merged.get("cache_write") is not None else None,
            long_context=(
                LongContext(int(long["above"]), _decimal(long["input"]), _decimal(long["output"])) if long else None
            ),
            flex_factor=_decimal(merged["flex_factor"]) if merged.get("flex_factor") is not None else None,
            efforts=efforts,
            default_effort=str(default_effort) if default_effort is not None else None,
            max_tokens_param=str(merged.get("max_tokens_param") or "max_tokens"),
            verbosity=bool(merged.get("verbosity", False)),
            replacement=str(merged["replacement"]) if merged.get("replacement") else None,
            lifecycle_as_of=str(merged.get("lifecycle_as_of", "")),
            lifecycle_source=str(merged.get("lifecycle_source", "")),
        )
    except InputError:
        raise
    except (KeyError, ArithmeticError, ValueError, TypeError) as exc:
        raise InputError(f"{source}: model {name!r}: missing or bad entry ({exc})") from None


def delivery_factor(info: ModelInfo | None, mode: str = "standard") -> Decimal | None:
    """The price multiplier of a delivery mode: standard 1, batch and flex their catalog factors.

    None when the price is unknown or the model does not offer that mode (Flex is not offered by
    every model).
    """
    if mode not in DELIVERY:
        raise InputError(f"delivery mode {mode!r} is not one of {', '.join(DELIVERY)}")
    if info is None:
        return None
    if mode == "standard":
        return Decimal(1)
    if mode == "batch":
        return info.batch_factor
    return info.flex_factor


def cost(
    info: ModelInfo | None,
    prompt_tokens: int | None,
    cached_tokens: int | None,
    completion_tokens: int | None,
    batch: bool = False,
    *,
    cache_write_tokens: int | None = None,
    tier_factor: Decimal | None = None,
) -> Decimal | None:
    """USD for one call from its billed usage; ``None`` when the price is unknown.

    ``prompt_tokens`` includes ``cached_tokens`` and ``cache_write_tokens`` (as the API reports
    them): cached tokens are billed at the cached-input price, tokens written to the cache at the
    cache-write price (the input price when the catalog names none) and the rest at the input
    price. ``completion_tokens`` includes reasoning tokens, billed as output. Above the model's
    long-context threshold (more than 272K input tokens on GPT-6) every input price is multiplied
    by its long-context input factor and the output price by its output factor. ``tier_factor``
    (see :func:`delivery_factor`: Batch and Flex 0.5) multiplies the whole; ``batch=True`` is
    ``tier_factor=info.batch_factor``. A call whose server reported no usage (``prompt_tokens``
    None) has an unknown cost too, except on a free model: $0 is known.
    """
    if info is None:
        return None
    if info.free:
        return Decimal(0)
    if prompt_tokens is None:
        return None
    cached = min(max(cached_tokens or 0, 0), prompt_tokens)
    written = min(max(cache_write_tokens or 0, 0), prompt_tokens - cached)
    fresh = prompt_tokens - cached - written
    write_price = info.cache_write if info.cache_write is not None else info.input
    inputs = fresh * info.input + cached * info.cached_input + written * write_price
    output = (completion_tokens or 0) * info.output
    long = info.long_context
    if long is not None and prompt_tokens > long.above:
        inputs *= long.input
        output *= long.output
    total = (inputs + output) / PER
    if tier_factor is not None:
        return total * tier_factor
    return total * info.batch_factor if batch else total


def answer_cost(info: ModelInfo | None, completion: Completion, tier_factor: Decimal | None = None) -> Decimal | None:
    """:func:`cost` of one answer, from the usage its server billed (a sweep's, a batch line's, Try it's)."""
    return cost(
        info,
        completion.prompt_tokens,
        completion.cached_tokens,
        completion.completion_tokens,
        cache_write_tokens=completion.cache_write_tokens,
        tier_factor=tier_factor,
    )


def usd(value: Decimal | None) -> float | None:
    """A Decimal amount as a JSON-friendly float (None stays None)."""
    return None if value is None else float(value)
