"""The Python API for notebooks and scripts: ``wb = workbench.open()``.

Settings come from the environment exactly as for the CLI (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
``WORKBENCH_DATABASE_URL``, ...). A sweep goes through the same door as the CLI and the pages
(:mod:`workbench.runs`): the same estimate, budgets (``max_cost`` and the team's caps) and refusals
before any call, and identical calls already stored are reused for free.

    import workbench
    wb = workbench.open()
    run = wb.sweep(prompt="prompts/sentiment.yaml", samples="prompts/sentiment.csv",
                   temperatures=[0, 0.7], repeats=2, max_cost=0.50)
    run                      # a summary table in Jupyter
    run.cells                # one row per prompt version x model x temperature (a DataFrame)
    run.recommendation       # the cell to ship, and why
    run.chart("cost")        # Altair charts display inline
    print(run.export("python"))
    wb.runs(); wb.run(7)
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import runs
from workbench.config import Settings
from workbench.datasets import SampleSet, load_samples
from workbench.errors import InputError
from workbench.formatting import money
from workbench.promptfile import PromptFile, load_prompt
from workbench.service import Workbench

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from workbench.runner import Progress

CELL_COLUMNS = [
    "prompt_name",
    "model",
    "reasoning_effort",
    "temperature",
    "n",
    "accuracy",
    "macro_f1",
    "unparsed",
    "errors",
    "reasoning_tokens",
    "cost_usd",
    "cost_per_1k_usd",
    "latency_p50_ms",
    "consistency",
]
CHARTS = ("cost", "temperature", "consistency", "latency", "confusion")


def open_workbench(settings: Settings | None = None) -> Session:
    """The workbench for these settings (default: from the environment, like the CLI)."""
    wb = Workbench.open(settings or Settings.from_env())
    return Session(wb, runs.local_actor(wb))


class Session:
    """One workbench (database, catalog, model server) and who uses it: the local admin and their key."""

    def __init__(self, wb: Workbench, actor: runs.Actor):
        self.wb = wb
        self.actor = actor

    def __repr__(self) -> str:
        return f"<workbench: models at {self.wb.settings.base_url}>"

    def default_models(self) -> list[str]:
        """The models a sweep uses when none are named (the catalog's default pair, or the local model)."""
        return self.wb.default_models()[0]

    def sweep(
        self,
        prompt: str | Path | PromptFile | Sequence[str | Path | PromptFile],
        samples: str | Path | SampleSet | pd.DataFrame,
        models: Sequence[str] | None = None,
        temperatures: Iterable[float] = (0.0,),
        repeats: int = 1,
        *,
        max_cost: float | None = None,
        concurrency: int = 8,
        label_column: str = "label",
        sample: int | None = None,
        seed: int = 0,
        name: str = "",
        new_run: bool = False,
        logprobs: bool = False,
        efforts: Sequence[str] = (),
        delivery: str = "standard",
        progress: bool = True,
    ) -> Run:
        """Run every prompt on every sample with every model and temperature, ``repeats`` times.

        ``prompt`` is a prompt file (or several, to compare versions); ``samples`` a CSV/JSONL file,
        a :class:`SampleSet` or a DataFrame with a ``label_column``; ``sample=N`` takes a stratified
        subset. Refused before any call (a one-line :class:`~workbench.errors.WorkbenchError`) when
        the estimate exceeds ``max_cost`` or a team cap. Progress shows as a bar (tqdm).
        ``logprobs=True`` records logprobs for the models that return them (see :meth:`Run.cascade`).
        ``efforts`` (e.g. ``["none", "low"]``) compares reasoning efforts, for the models that take them
        (empty: each at its default); ``delivery`` is ``"standard"``, ``"flex"`` or ``"batch"`` (half price).
        """
        prompts = [_prompt(p) for p in (prompt if isinstance(prompt, (list, tuple)) else [prompt])]
        sample_set = _samples(samples, label_column)
        if sample:
            sample_set = sample_set.stratified(sample, seed)
        prepared = runs.prepare_sweep(
            self.wb,
            self.actor,
            prompts,
            sample_set,
            list(models) if models else self.default_models(),
            [float(t) for t in temperatures],
            repeats,
            source=str(samples) if isinstance(samples, (str, Path)) else None,
            max_cost_usd=max_cost,
            name=name,
            concurrency=concurrency,
            new_run=new_run,
            logprobs=logprobs,
            efforts=list(efforts),
            delivery=delivery,
        )
        bar = _ProgressBar() if progress else None
        try:
            launched = runs.launch(self.wb, prepared, runs.Inline(bar))
        finally:
            if bar is not None:
                bar.close()
        return Run(self.wb, launched.run.id, launched.result)

    def runs(self, limit: int | None = None) -> pd.DataFrame:
        """Every run, newest first, with its status, calls and cost."""
        return runs.list_runs(self.wb, limit=limit)

    def run(self, run_id: int) -> Run:
        """A stored run by its id."""
        return Run(self.wb, run_id)


class Run:
    """A run's results: its cells as a DataFrame, the full report, charts and exports; shows itself in Jupyter."""

    def __init__(self, wb: Workbench, run_id: int, outcome: Any = None, tolerance: float = 0.02):
        self.wb = wb
        self.id = run_id
        self.tolerance = tolerance
        self.summary: dict[str, Any] = runs.report(wb, run_id, outcome)  # the CLI's sweep --json object

    def __repr__(self) -> str:
        s = self.summary
        return f"<run {self.id} {s['name']!r}: {s['status']}, {len(s['cells'])} cells, {money(s['total_cost_usd'])}>"

    @property
    def status(self) -> str:
        return str(self.summary["status"])

    @property
    def cells(self) -> pd.DataFrame:
        """One row per prompt version x model x reasoning effort x temperature: accuracy, cost, latency, tokens."""
        import pandas as pd

        frame = pd.DataFrame(self.summary["cells"])
        return frame[[c for c in CELL_COLUMNS if c in frame.columns]] if not frame.empty else frame

    @cached_property
    def _results(self) -> tuple[pd.DataFrame, dict[int, list[str]]]:
        from workbench.storage.results import results_frame

        return results_frame(self.wb.engine, self.id)

    @cached_property
    def report(self) -> dict[str, Any]:
        """Everything the Compare page and ``python -m workbench report`` show (intervals, pairs, confusion)."""
        from workbench.metrics import build_report
        from workbench.service import billing_notes

        frame, labels = self._results
        report = build_report(frame, labels, self.id, tolerance=self.tolerance)
        report["billing_notes"] = billing_notes(self.wb.engine, self.wb.catalog, self.id)
        return report

    @property
    def recommendation(self) -> dict[str, Any] | None:
        """The cheapest cell within the tolerance of the best accuracy, with the reason and verdict."""
        return self.report["recommendation"]

    @property
    def answers(self) -> pd.DataFrame:
        """Every answer: sample, cell, gold label, parsed label, cost and latency."""
        from workbench.metrics import per_sample

        return per_sample(self._results[0])

    def chart(self, kind: str = "cost", cell: int = 0) -> alt.TopLevelMixin:
        """An Altair chart (displays inline): cost, temperature, consistency, latency or confusion (of ``cell``)."""
        from workbench import charts

        if kind == "cost":
            return charts.cost_vs_accuracy(self.report)
        if kind == "temperature":
            return charts.accuracy_vs_temperature(self.report)
        if kind == "consistency":
            return charts.consistency_vs_temperature(self.report)
        if kind == "latency":
            return charts.latency_distribution(self._results[0])
        if kind == "confusion":
            return charts.confusion_heatmap(self.report["cells"][cell])
        raise InputError(f"unknown chart {kind!r}; one of {', '.join(CHARTS)}")

    def export(self, fmt: str = "python", model: str | None = None, temperature: float | None = None) -> str:
        """The winning cell (or the one named) as code: python, typescript, curl, json, promptfoo or pytest."""
        from workbench import export
        from workbench.winner import spec_for_run

        spec, samples, _ = spec_for_run(self.wb, self.id, model, temperature)
        return export.render(spec, fmt, samples=samples)

    def cascade(
        self,
        cheap: str,
        strong: str,
        target: float | None = None,
        tolerance: float | None = None,
        strong_calls: int = 1,
    ) -> Cascade:
        """What "``cheap`` answers first, ``strong`` only when ``cheap`` is unsure" would have done on this run,
        without a new call. Cells are model names, or ``MODEL@EFFORT@TEMPERATURE`` when a model has several."""
        report = self.wb.cascade(
            self.id,
            cheap,
            strong,
            target=target,
            tolerance=self.tolerance if tolerance is None else tolerance,
            strong_calls=strong_calls,
        )
        return Cascade(self.wb, report)

    def _repr_html_(self) -> str:
        s, rec = self.summary, self.recommendation
        head = (
            f"<p><b>Run {self.id}: {html.escape(str(s['name']))}</b> · {html.escape(self.status)} · "
            f"{len(s['cells'])} cells · cost {html.escape(money(s['total_cost_usd']))}</p>"
        )
        if rec:
            head += (
                f"<p>Recommended: <b>{html.escape(rec['model'])} at temperature {rec['temperature']}</b> · "
                f"{html.escape(str(rec['reason']))}; {html.escape(str(rec['verdict']))}</p>"
            )
        return head + self.cells.to_html(index=False, na_rep="unknown", float_format=lambda v: f"{v:.4g}")


class Cascade:
    """A simulated cascade (``workbench.cascade``): every policy, each signal's cross-validated choice, the
    recommendation, charts and the code to ship; shows itself in Jupyter."""

    def __init__(self, wb: Workbench, report: dict[str, Any]):
        self.wb = wb
        self.report = report  # the CLI's `cascade --json` object

    def __repr__(self) -> str:
        return f"<cascade of run {self.report['run_id']}: {self.report['reason']}>"

    @property
    def recommended(self) -> dict[str, Any] | None:
        """The cheapest policy whose held-out accuracy reaches the goal (None, with ``report["reason"]``, if none)."""
        return self.report["recommended"]

    @property
    def policies(self) -> pd.DataFrame:
        """Every policy (signal x threshold x cheap calls) with its in-sample figures."""
        import pandas as pd

        return pd.DataFrame(self.report["policies"])

    @property
    def selected(self) -> pd.DataFrame:
        """Per signal and number of cheap calls: the threshold chosen, in-sample and held-out figures side by side."""
        import pandas as pd

        rows = [
            {
                "signal": c["signal"],
                "cheap_calls": c["cheap_calls_per_sample"],
                "threshold": c["threshold"],
                "escalation_rate": c["in_sample"]["escalation_rate"],
                "accuracy_in_sample": c["in_sample"]["accuracy"],
                "accuracy_held_out": c["held_out"]["accuracy"],
                "cost_per_1k_usd": c["in_sample"]["cost_per_1k_usd"],
            }
            for c in self.report["selected"]
        ]
        return pd.DataFrame(rows)

    def chart(self, kind: str = "cost") -> alt.TopLevelMixin:
        """cost (policies beside the single cells), calibration (reliability) or coverage."""
        from workbench import charts_cascade

        if kind == "cost":
            return charts_cascade.cascade_cost_accuracy(self.report)
        if kind == "calibration":
            return charts_cascade.reliability_chart(self.report)
        if kind == "coverage":
            return charts_cascade.coverage_chart(self.report)
        raise InputError(f"unknown cascade chart {kind!r}; one of cost, calibration, coverage")

    def export(self, fmt: str = "python", policy: dict[str, Any] | None = None) -> str:
        """The recommended (or given) policy as Python or TypeScript code."""
        return self.wb.cascade_code(self.report, fmt, policy)

    def _repr_html_(self) -> str:
        head = f"<p><b>Cascade of run {self.report['run_id']}</b> · {html.escape(str(self.report['reason']))}</p>"
        return head + self.selected.to_html(index=False, na_rep="unknown", float_format=lambda v: f"{v:.4g}")


class _ProgressBar:
    """A tqdm bar (a widget in Jupyter, text elsewhere) fed by the runner's progress."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=0, unit="call", desc="sweep")

    def __call__(self, p: Progress) -> None:
        self.bar.total = p.total
        self.bar.n = p.done
        self.bar.set_postfix(new=p.new_calls, reused=p.reused, errors=p.errors, spent=f"${p.spent_usd:.6f}")

    def close(self) -> None:
        self.bar.close()


def _prompt(value: str | Path | PromptFile) -> PromptFile:
    return value if isinstance(value, PromptFile) else load_prompt(value)


def _samples(value: str | Path | SampleSet | pd.DataFrame, label_column: str) -> SampleSet:
    if isinstance(value, SampleSet):
        return value
    if isinstance(value, (str, Path)):
        return load_samples(value, label_column)
    from workbench.datasets import from_frame

    return from_frame(value, label_column)
