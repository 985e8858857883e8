"""Model catalog and the one cost function.

Prices are data (``workbench/data/models.yaml``, overridable with ``WORKBENCH_CATALOG``), each
with its date and source. Cost is computed from the usage the API returned, in ``Decimal`` so
sums are exact to the micro-cent; an unknown model has cost ``None`` ("unknown"), never 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import InputError

PER = Decimal(1_000_000)
# gpt-4.1-nano-2025-04-14 -> gpt-4.1-nano ; gpt-4o-2024-08-06 -> gpt-4o
_SNAPSHOT = re.compile(r"^(?P<family>.+?)-(?:\d{4}-\d{2}-\d{2}|\d{4})$")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    input: Decimal
    cached_input: Decimal
    output: Decimal
    batch_factor: Decimal
    context_window: int | None
    temperature: bool
    logprobs: bool
    shutdown: str | None
    as_of: str
    source: str
    note: str = ""
    provider: str = "openai"  # "local": answered on this machine (workbench/local), not by OPENAI_BASE_URL

    @property
    def local(self) -> bool:
        return self.provider == "local"

    @property
    def free(self) -> bool:
        """No charge per token: a call costs a known $0 even when the server reports no usage."""
        return self.input == 0 and self.cached_input == 0 and self.output == 0


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelInfo]
    version: str

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
            catalog = Catalog({**catalog.models, **more.models}, more.version or catalog.version)
        return catalog

    @staticmethod
    def _from_data(data: Any, source: str) -> Catalog:
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise InputError(f"{source}: a catalog needs a 'models' mapping")
        defaults = data.get("defaults") or {}
        models = {}
        for name, entry in data["models"].items():
            merged = {**defaults, **(entry or {})}
            try:
                models[str(name)] = ModelInfo(
                    name=str(name),
                    input=Decimal(str(merged["input"])),
                    cached_input=Decimal(str(merged.get("cached_input", merged["input"]))),
                    output=Decimal(str(merged["output"])),
                    batch_factor=Decimal(str(merged.get("batch_factor", 1))),
                    context_window=merged.get("context_window"),
                    temperature=bool(merged.get("temperature", True)),
                    logprobs=bool(merged.get("logprobs", True)),
                    shutdown=str(merged["shutdown"]) if merged.get("shutdown") else None,
                    as_of=str(merged.get("as_of", "")),
                    source=str(merged.get("source", "")),
                    note=str(merged.get("note", "")),
                    provider=str(merged.get("provider") or "openai"),
                )
            except (KeyError, ArithmeticError, ValueError) as exc:
                raise InputError(f"{source}: model {name!r}: missing or bad price ({exc})") from None
        return Catalog(models, str(data.get("version", "")))

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
                temperature=True,
                logprobs=False,
                shutdown=None,
                as_of="",
                source=source,
                note="local model: no charge per token",
                provider="local",
            )
            for name in names
            if name not in self.models
        }
        return Catalog({**self.models, **extra}, self.version) if extra else self

    def lookup(self, model: str) -> ModelInfo | None:
        """The entry for ``model``; dated snapshots resolve to their family."""
        if model in self.models:
            return self.models[model]
        match = _SNAPSHOT.match(model)
        if match and match.group("family") in self.models:
            return self.models[match.group("family")]
        return None


def cost(
    info: ModelInfo | None,
    prompt_tokens: int | None,
    cached_tokens: int | None,
    completion_tokens: int | None,
    batch: bool = False,
) -> Decimal | None:
    """USD for one call from its billed usage; ``None`` when the price is unknown.

    ``prompt_tokens`` includes ``cached_tokens`` (as the API reports it); cached tokens are billed
    at the cached-input price and the rest at the input price. A call whose server reported no
    usage (``prompt_tokens`` None) has an unknown cost too, except on a free model: $0 is known.
    """
    if info is None:
        return None
    if info.free:
        return Decimal(0)
    if prompt_tokens is None:
        return None
    cached = min(max(cached_tokens or 0, 0), prompt_tokens)
    fresh = prompt_tokens - cached
    total = (fresh * info.input + cached * info.cached_input + (completion_tokens or 0) * info.output) / PER
    return total * info.batch_factor if batch else total


def usd(value: Decimal | None) -> float | None:
    """A Decimal amount as a JSON-friendly float (None stays None)."""
    return None if value is None else float(value)


def format_usd(value: Decimal | float | None) -> str:
    """Human text for an amount; unknown is said so."""
    if value is None:
        return "unknown"
    value = float(value)
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.6f}".rstrip("0")
    return f"${value:,.4f}"
