"""Help before a sweep: about how long it will take.

The duration is an estimate from the latencies this workbench has measured for each model (the
median of its latest answers, :func:`workbench.storage.history.typical_latency_ms`), labelled as such;
a model with no answers yet has no estimate rather than a guess. The sample set that fits a prompt is
:func:`workbench.storage.history.fitting_dataset`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Duration:
    seconds: float | None  # None when no model with new calls has a measured latency
    unknown: tuple[str, ...]  # models with new calls and no measured latency (not in ``seconds``)

    def text(self) -> str:
        """``about 2 min (estimate from past answers)``, with the models it could not time."""
        if self.seconds is None:
            return "unknown until the first answers arrive (no answers from these models yet)"
        seconds = self.seconds
        when = (
            f"{seconds:.0f} s"
            if seconds < 90
            else f"{seconds / 60:.0f} min"
            if seconds < 5400
            else f"{seconds / 3600:.1f} h"
        )
        missing = f"; not counting {', '.join(self.unknown)} (no answers yet)" if self.unknown else ""
        return f"about {when} (estimate from past answers{missing})"


def estimate_duration(
    estimate: Mapping[str, Any], latency_ms: Mapping[str, float], concurrency: int, one_at_a_time: Sequence[str] = ()
) -> Duration:
    """How long the new calls of ``estimate`` (the sweep estimate) take at ``concurrency`` parallel calls.

    Models in ``one_at_a_time`` (a local llama.cpp server) answer one call at a time whatever the
    concurrency; the rest share the concurrency.
    """
    parallel = serial = 0.0
    unknown: list[str] = []
    timed = False
    for entry in estimate["models"]:
        model, calls = entry["model"], int(entry.get("new_calls", entry["calls"]))
        if calls == 0:
            continue
        if model not in latency_ms:
            unknown.append(model)
            continue
        timed = True
        work = calls * latency_ms[model] / 1000
        if model in one_at_a_time:
            serial += work
        else:
            parallel += work
    if not timed:
        return Duration(None, tuple(unknown))
    return Duration(max(parallel / max(1, concurrency), serial), tuple(unknown))
