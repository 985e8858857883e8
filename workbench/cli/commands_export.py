"""``export`` and ``import-promptfoo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cli import EXIT_USAGE, emit, say
from workbench.cli.common import open_workbench, run_id_arg

if TYPE_CHECKING:
    from workbench.promptfoo import ImportedConfig


def register(sub: argparse._SubParsersAction) -> None:
    from workbench.export import FORMATS

    p = sub.add_parser("export", help="the winning (or a chosen) cell of a run as code")
    p.add_argument("--run", type=run_id_arg, required=True, metavar="RUN_ID")
    p.add_argument("--model", help="the cell's model (default: the winner)")
    p.add_argument("--temperature", type=float, help="the cell's temperature (default: the winner)")
    p.add_argument(
        "--effort",
        help="the cell's reasoning effort, or 'default' for a cell sent without one (default: the winner)",
    )
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument(
        "--margin",
        type=float,
        default=0.05,
        help="pytest format: fail below the measured accuracy minus this (default 0.05)",
    )
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("import-promptfoo", help="read a promptfooconfig.yaml into a prompt, samples and a plan")
    p.add_argument("config", metavar="CONFIG")
    p.add_argument("--labels", help="comma-separated labels when the config does not name them")
    p.add_argument(
        "--save",
        action="store_true",
        help="store the prompts and samples in the database (for the app's Sweep page)",
    )
    p.add_argument(
        "--write-prompts",
        metavar="DIR",
        help="also write the prompts as YAML files and the samples as a CSV into DIR, and print the sweep"
        " command(s) that run the imported plan",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_import)


def cmd_export(args: argparse.Namespace) -> int:
    from workbench.export import render
    from workbench.metrics import cell_name
    from workbench.winner import spec_for_run

    wb = open_workbench()
    spec, samples, cell = spec_for_run(wb, args.run, args.model, args.temperature, _effort(args.effort))
    text = render(spec, args.format, samples=samples, margin=args.margin)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        say(f"wrote {args.format} export of {cell_name(cell)} (run {args.run}) to {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _effort(text: str | None) -> str | None:
    """``--effort``: a reasoning effort, or ``default`` (cells sent without one); unknown ones are refused."""
    if text is None:
        return None
    value = text.strip().lower()
    if value == "default":
        return value
    from workbench.sweep import parse_efforts

    return parse_efforts(value)[0] if value else None


def cmd_import(args: argparse.Namespace) -> int:
    from workbench.promptfoo import ImportFailed, import_plan, parse_config

    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else None
    try:
        imported = parse_config(args.config, labels=labels)
    except ImportFailed as exc:
        say(f"error: {exc}")
        say("not translated:")
        for line in exc.untranslated:
            say(f"  - {line}")
        return EXIT_USAGE
    plan = import_plan(imported)
    if args.write_prompts:
        plan.update(_write_files(imported, Path(args.write_prompts)))
    if args.save:
        wb = open_workbench(write=True)
        from workbench.storage import repository as repo

        plan["prompt_version_ids"] = [
            repo.save_prompt_version(wb.engine, p, note="imported from promptfoo").id for p in imported.prompts
        ]
        if imported.samples is not None:
            plan["dataset_id"] = repo.save_dataset(wb.engine, imported.samples, source=str(args.config)).id
    if args.json:
        emit(plan)
        return 0
    print(f"prompts: {', '.join(p.name for p in imported.prompts)}")
    for p in imported.prompts:
        print(f"  {p.name}: labels {', '.join(p.labels)}; variables {', '.join(p.variables) or 'none'}")
    print(
        f"samples: {plan['samples'] if plan['samples'] is not None else 'none'}"
        f" (label column {imported.label_column!r})"
    )
    print(f"cells ({len(imported.planned)}), repeats {imported.repeats}:")
    for prompt, model, temperature in imported.planned:
        print(f"  {prompt} x {model} @ temperature {'none' if temperature is None else f'{temperature:g}'}")
    if imported.untranslated:
        print("not translated:")
        for line in imported.untranslated:
            print(f"  - {line}")
    for path in plan.get("written", []):
        print(f"wrote {path}")
    commands = plan.get("sweep_commands") or []
    if len(commands) > 1:
        print("run the plan with these sweeps (its cells are not one prompts x models x temperatures grid):")
    elif commands:
        print("run the plan with:")
    for command in commands:
        print(f"  {command}")
    if not args.write_prompts and imported.planned:
        print("add --write-prompts DIR to write the prompt and sample files and get the sweep command")
    return 0


def _write_files(imported: ImportedConfig, folder: Path) -> dict[str, Any]:
    """Prompt YAML files and the samples CSV in ``folder``, and the shell commands that sweep them."""
    import shlex

    from workbench.datasets import to_bytes_csv
    from workbench.promptfile import save_prompt
    from workbench.promptfoo import sweep_commands

    folder.mkdir(parents=True, exist_ok=True)
    paths = {p.name: str(save_prompt(p, folder / f"{p.name}.yaml")) for p in imported.prompts}
    written = list(paths.values())
    result: dict[str, Any] = {"written": written, "sweep_commands": []}
    if imported.samples is None:
        return result
    dataset = folder / "samples.csv"
    dataset.write_bytes(to_bytes_csv(imported.samples))
    written.append(str(dataset))
    result["sweep_commands"] = [shlex.join(c) for c in sweep_commands(imported, paths, str(dataset))]
    return result
