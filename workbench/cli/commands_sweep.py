"""``sweep``, ``estimate`` and ``resume``."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import formatting as fmt
from workbench import runs
from workbench.cli import EXIT_FAILED, emit, say
from workbench.cli.common import (
    ProgressPrinter,
    calls_starting,
    load_in_background,
    money,
    open_workbench,
    positive_int,
    run_id_arg,
)
from workbench.datasets import load_samples
from workbench.errors import InputError
from workbench.label_check import spelling_variants
from workbench.promptfile import load_prompt
from workbench.sweep import parse_efforts, parse_models, parse_temperatures

RESUMABLE = ("cancelled", "stopped", "failed")


def resume_command(run_id: int) -> str:
    return f"python -m workbench resume {run_id}"


if TYPE_CHECKING:
    from workbench.runner import Outcome
    from workbench.runs import Prepared
    from workbench.service import Workbench
    from workbench.storage.models import Run

EXIT_INTERRUPTED = 130  # Ctrl-C: batches left running on the server


# What the summary after a sweep needs (pandas, numpy): loaded while the calls are in flight.
REPORT_MODULES = ("workbench.metrics", "workbench.storage.results")


def preload_report() -> None:
    calls_starting()
    load_in_background(*REPORT_MODULES)


def register(sub: argparse._SubParsersAction) -> None:
    for name, handler, text in (
        ("sweep", cmd_sweep, "run a sweep and print its results"),
        ("estimate", cmd_estimate, "count tokens and estimate cost without calling any model"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument(
            "--prompt",
            action="append",
            required=True,
            metavar="FILE",
            help="prompt file (YAML); repeat to compare prompt versions",
        )
        p.add_argument("--dataset", required=True, metavar="FILE", help="labeled samples (CSV or JSONL)")
        p.add_argument(
            "--models",
            help="comma-separated model ids, e.g. gpt-6-luna,gpt-6-sol (the catalog's default pair) or "
            "smollm2-135m (local, the default without OPENAI_API_KEY)",
        )
        p.add_argument("--temperatures", default="0", help="comma-separated temperatures in 0-2 (default 0)")
        p.add_argument(
            "--efforts",
            default="",
            help="comma-separated reasoning efforts, e.g. none,low (default: each reasoning model's own); "
            "each model gets only the efforts it takes",
        )
        p.add_argument("--repeats", type=positive_int, default=1, help="calls per sample and cell (default 1)")
        p.add_argument("--label-column", default="label", help="column holding the gold label (default: label)")
        p.add_argument("--sample", type=positive_int, metavar="N", help="a stratified subset of N samples")
        p.add_argument("--seed", type=int, default=0, help="seed for --sample (default 0)")
        p.add_argument(
            "--logprobs",
            action="store_true",
            help="record logprobs (and the top 5 per token) for models that return them: the cascade's logprob signal",
        )
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.add_argument(
            "--service-tier",
            choices=("default", "standard", "flex"),
            default="default",
            help="flex: OpenAI's Flex processing, half price, slower (calls may wait minutes)",
        )
        p.add_argument(
            "--batch",
            action="store_true",
            help="send the calls through OpenAI's Batch API: half price, answers within 24 hours",
        )
        if name == "sweep":
            p.add_argument(
                "--no-wait",
                action="store_true",
                help="with --batch: submit the batches and return; collect them later with `resume RUN_ID`",
            )
            p.add_argument("--concurrency", type=positive_int, default=8, help="parallel calls (default 8)")
            p.add_argument("--max-cost", type=money, metavar="USD", help="refuse or stop the sweep past this spend")
            p.add_argument("--name", default="", help="a name for the run")
            p.add_argument("--stream", action="store_true", help="stream answers to record time to first token")
            p.add_argument(
                "--new-run",
                action="store_true",
                help="always start a new run instead of resuming an unfinished identical one",
            )
            p.add_argument("--quiet", action="store_true", help="no progress on stderr")
        p.set_defaults(handler=handler)

    p = sub.add_parser(
        "resume",
        help="finish an interrupted, failed or stopped run",
        description="Call only the items of RUN_ID that have no stored answer.",
    )
    p.add_argument("run_id", type=run_id_arg, metavar="RUN_ID")
    p.add_argument("--concurrency", type=positive_int, help="parallel calls (default: as the run was started)")
    p.add_argument("--max-cost", type=money, metavar="USD")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-wait", action="store_true", help="a batch run: look at its batches once and return")
    p.set_defaults(handler=cmd_resume)


def _delivery(args: argparse.Namespace) -> str:
    """The delivery mode the flags ask for (standard, flex or batch)."""
    from workbench.delivery import BATCH, FLEX, STANDARD

    flex = args.service_tier == "flex"
    if args.batch and flex:
        raise InputError("--batch and --service-tier flex are two ways to pay half price: choose one")
    if args.batch and getattr(args, "stream", False):
        raise InputError("--stream needs answers as they are written; the Batch API has none: drop one of them")
    if getattr(args, "no_wait", False) and not args.batch:
        raise InputError("--no-wait goes with --batch (standard and flex calls are answered while you wait)")
    return BATCH if args.batch else FLEX if flex else STANDARD


def _prepare(args: argparse.Namespace, wb: Workbench, sweeping: bool) -> Prepared:
    delivery = _delivery(args)
    prompts = [load_prompt(path) for path in args.prompt]
    temperatures = parse_temperatures(args.temperatures)
    # Named by the file's name, not the path typed (the path is kept as the set's source).
    samples = replace(load_samples(args.dataset, args.label_column), name=Path(args.dataset).name)
    for line in spelling_variants(samples):
        say(f"warning: {samples.name}: {line}")
    if args.sample:
        samples = samples.stratified(args.sample, args.seed)
    if args.models:
        models = parse_models(args.models)
    else:
        models, note = wb.default_models()
        if note:
            say(f"note: {note}")
    return runs.prepare_sweep(
        wb,
        runs.local_actor(wb),
        prompts,
        samples,
        models,
        temperatures,
        args.repeats,
        source=str(args.dataset),
        efforts=parse_efforts(args.efforts),
        max_cost_usd=args.max_cost if sweeping else None,
        name=args.name if sweeping else "",
        concurrency=args.concurrency if sweeping else 8,
        new_run=sweeping and args.new_run,
        logprobs=args.logprobs,
        delivery=delivery,
    )


def _print_estimate(est: dict[str, Any]) -> None:
    from workbench.delivery import EXPECTED_WAIT, STANDARD

    say(f"{est['calls']} calls ({est['stored']} already stored and free, {est['new_calls']} new)")
    mode = est.get("delivery", STANDARD)
    if mode != STANDARD:
        say(
            f"delivery: {mode} at half price (new calls {fmt.money(est['est_new_usd'])} instead of "
            f"{fmt.money(est['est_new_usd_standard'])} as standard); expected wait: {EXPECTED_WAIT[mode]}"
        )
    for m in est["models"]:
        say(
            f"  {m['model']}: {m['calls']} calls, {m['prompt_tokens']} prompt tokens, "
            f"~{m['est_completion_tokens']} completion tokens"
            + (f" (~{m['est_reasoning_tokens']} reasoning)" if m.get("est_reasoning_tokens") else "")
            + f", est. {fmt.money(m['est_cost_usd'])}"
            f" (new calls: {fmt.money(m['est_new_cost_usd'])})"
        )
    say(f"estimated total {fmt.money(est['est_total_usd'])}, new calls {fmt.money(est['est_new_usd'])} (estimate)")
    for note in est["notes"]:
        say(f"note: {note}")


def cmd_estimate(args: argparse.Namespace) -> int:
    est = _prepare(args, open_workbench(), sweeping=False).estimate
    if args.json:
        emit(est)
    else:
        _print_estimate(est)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    wb = open_workbench(write=True)
    prepared = _prepare(args, wb, sweeping=True)
    if not args.quiet:
        _print_estimate(prepared.estimate)

    def say_resuming(run: Run, continued: bool) -> None:
        preload_report()
        for note in prepared.notes:
            say(f"note: {note}")
        if continued and not args.quiet:
            say(f"resuming run {run.id} ({run.status}): only items without a stored answer are called")

    inline = runs.Inline(ProgressPrinter(args.quiet), stream=args.stream, wait=not args.no_wait)
    launched = runs.launch(wb, prepared, inline, on_start=say_resuming)
    return _finish(wb, launched.result, args.json)


def cmd_resume(args: argparse.Namespace) -> int:
    wb = open_workbench(write=True)
    prepared = runs.prepare_resume(
        wb, runs.local_actor(wb), args.run_id, max_cost_usd=args.max_cost, concurrency=args.concurrency
    )
    launched = runs.launch(
        wb,
        prepared,
        runs.Inline(ProgressPrinter(args.quiet), wait=not args.no_wait),
        on_start=lambda *_: preload_report(),
    )
    return _finish(wb, launched.result, args.json)


def _finish(wb: Workbench, outcome: Outcome, as_json: bool) -> int:
    result = runs.report(wb, outcome.run_id, outcome)
    if as_json:
        emit(result)
    else:
        from workbench.cli.commands_runs import print_cells

        print_cells(result)
    if outcome.status == "interrupted":  # a batch run left running on the server
        say(f"run {outcome.run_id}: {outcome.error}")
        return EXIT_INTERRUPTED
    if outcome.status != "completed":
        say(f"error: run {outcome.run_id} {outcome.status}: {outcome.error}")
        if outcome.status in RESUMABLE:
            say(f"to continue it (stored answers are kept, only the rest is called): {resume_command(outcome.run_id)}")
        return EXIT_FAILED
    return 0
