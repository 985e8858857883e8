"""Choosing the cell to ship: the winner of a run, or the one the user names."""

from __future__ import annotations

from typing import Any

from workbench.datasets import SampleSet
from workbench.errors import InputError
from workbench.export import ExportSpec
from workbench.service import Workbench
from workbench.storage import repository as repo
from workbench.storage.results import results_frame


def winner(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Highest accuracy; ties broken by lower cost (unknown cost last), then lower temperature."""
    answered = [c for c in cells if c.get("accuracy") is not None]
    if not answered:
        raise InputError("the run has no answered cell to export")

    def key(cell: dict[str, Any]) -> tuple:
        cost = cell.get("cost_per_1k_usd")
        temperature = cell.get("temperature")
        return (-cell["accuracy"], cost is None, cost or 0.0, temperature is None, temperature or 0.0)

    return min(answered, key=key)


def pick(
    cells: list[dict[str, Any]], model: str | None, temperature: float | None, effort: str | None = None
) -> dict[str, Any]:
    """The named cell, or the winner when neither model, temperature nor effort is given.

    ``effort`` is a reasoning effort, or ``"default"`` for cells sent without one.
    """
    if model is None and temperature is None and effort is None:
        return winner(cells)
    chosen = [
        c
        for c in cells
        if (model is None or c["model"] == model)
        and (temperature is None or (c["temperature"] is not None and abs(c["temperature"] - temperature) < 1e-9))
        and (effort is None or (c.get("reasoning_effort") or "default") == effort)
    ]
    if not chosen:
        from workbench.metrics import cell_name

        have = ", ".join(sorted({cell_name(c) for c in cells}))
        raise InputError(
            f"no cell {model or '*'} at effort {effort or '*'} and temperature "
            f"{temperature if temperature is not None else '*'} in this run (cells: {have})"
        )
    return winner(chosen)


def spec_for_run(
    wb: Workbench,
    run_id: int,
    model: str | None = None,
    temperature: float | None = None,
    effort: str | None = None,
) -> tuple[ExportSpec, SampleSet, dict[str, Any]]:
    """The export spec of a run's chosen cell, its sample set and the cell's figures."""
    from workbench.metrics import cell_summaries

    frame, labels = results_frame(wb.engine, run_id)
    cell = pick(cell_summaries(frame, labels), model, temperature, effort)
    spec, samples = spec_for_cell(wb, run_id, cell)
    return spec, samples, cell


def spec_for_cell(wb: Workbench, run_id: int, cell: dict[str, Any]) -> tuple[ExportSpec, SampleSet]:
    """The export spec of one cell of a run (a dict of ``metrics.cell_summaries``) and the run's sample set."""
    run = repo.get_run(wb.engine, run_id)
    _, prompt = repo.get_prompt_version(wb.engine, cell["prompt_version_id"])
    ci = cell.get("accuracy_ci95") or [None, None]
    spec = ExportSpec(
        prompt=prompt,
        model=cell["model"],
        temperature=cell["temperature"],
        reasoning_effort=cell.get("reasoning_effort"),
        model_info=wb.catalog.lookup(cell["model"]),
        run_id=run.id,
        accuracy=cell["accuracy"],
        accuracy_ci95=(ci[0], ci[1]),
        cost_per_1k_usd=cell.get("cost_per_1k_usd"),
        n=cell["n"],
        created=run.created_at.date().isoformat(),
        samples=cell.get("samples"),
        repeats=cell.get("repeats"),
        version=cell.get("prompt_label"),
        local=cell["model"] in wb.local,
    )
    return spec, repo.load_dataset(wb.engine, run.dataset_id)
