"""Import a promptfoo config (``promptfooconfig.yaml``) as workbench prompts, samples and a sweep plan.

What translates: prompts (inline text, chat JSON, ``{raw, label, config}`` objects, ``file://``
text files with ``---`` separators, JSON/JSONL/YAML chat files), OpenAI chat providers (several
entries for one model make a temperature grid), tests (inline, ``file://`` CSV/YAML/JSON/JSONL,
``defaultTest`` merged in), ``evaluateOptions.repeat``, and the gold label of each test: an
``equals`` assertion, an ``__expected`` CSV column, or the var named like the answer field when the
prompt's JSON schema lists the labels as an ``enum`` (promptfoo's f-score example).

What does not is listed, one human line each, in :attr:`ImportedConfig.untranslated`: other
assertions (the workbench scores by label match), derived metrics, non-OpenAI providers, and so
on. Nunjucks beyond plain ``{{var}}`` (filters, expressions, ``{% if %}``) cannot be expressed in
the workbench's literal templates: such a prompt is refused and listed, and the import fails if no
prompt is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.datasets import SampleSet
from workbench.errors import InputError
from workbench.export.promptfoo_yaml import METADATA_LABEL_COLUMN, METADATA_LABELS, THRESHOLD_ENV
from workbench.promptfile import PromptFile
from workbench.promptfoo.cases import equals_values, gold_samples, read_cases, read_options
from workbench.promptfoo.providers import prompt_ref_matches, read_providers
from workbench.promptfoo.reading import Notes, read_yaml, resolve_files, short, slug
from workbench.promptfoo.templates import ImportFailed, RawPrompt, finish_prompts, read_prompts, response_enum

__all__ = ["ImportFailed", "ImportedConfig", "import_plan", "parse_config", "slug", "sweep_commands", "sweep_grids"]


@dataclass(frozen=True)
class ImportedConfig:
    """A promptfoo config in workbench terms.

    ``temperatures`` lists each distinct temperature of the OpenAI providers. A provider that sets
    none gets what promptfoo would send: 0, or ``None`` (no temperature at all) for reasoning models
    (o1/o3/o4, gpt-5), which take none. ``cells`` keeps the exact (model, temperature) pairs in
    provider order, for configs whose providers do not form a full models x temperatures grid;
    ``planned`` the (prompt name, model, temperature) cells promptfoo would run, honouring each
    provider's ``prompts`` list.
    """

    prompts: list[PromptFile]
    samples: SampleSet | None
    models: list[str]
    temperatures: list[float | None]
    repeats: int
    untranslated: list[str]
    label_column: str
    cells: list[tuple[str, float | None]] = field(default_factory=list)
    description: str = ""
    planned: list[tuple[str, str, float | None]] = field(default_factory=list)


def parse_config(path: str | Path, labels: Sequence[str] | None = None) -> ImportedConfig:
    """Read a promptfoo config; ``labels`` forces the label set when it cannot be inferred.

    An import that stops after reading the config (no labels, no prompt left) raises
    :class:`ImportFailed`, which keeps the list of what would not have translated.
    """
    return _parse(Path(path), labels, Notes())


def _parse(path: Path, labels: Sequence[str] | None, notes: Notes) -> ImportedConfig:
    data = read_yaml(path, "promptfoo config")
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: a promptfoo config must be a YAML mapping with prompts, providers and tests")
    base = path.parent
    description = str(data.get("description") or "").strip()
    known = {"description", "prompts", "providers", "targets", "tests", "defaultTest", "evaluateOptions", "env"}
    for key in data:
        if key not in known and key not in ("tags", "metadata", "derivedMetrics"):
            notes.add(f"{key}: not translated")
    env = data.get("env")
    for key in env if isinstance(env, Mapping) else ([] if env is None else ["(not a mapping)"]):
        if key != THRESHOLD_ENV:  # the pass-rate threshold only sets promptfoo's exit code
            notes.add(f"env {key}: not translated (the workbench reads its settings from its own environment)")

    cells, provider_params, only = read_providers(data.get("providers", data.get("targets")), notes)
    raw_prompts = read_prompts(data.get("prompts"), base, path, notes)

    default = data.get("defaultTest") or {}
    if isinstance(default, str) and default.startswith("file://"):
        default = read_yaml(resolve_files(default, base, path)[0], "defaultTest file") or {}
    if not isinstance(default, Mapping):
        raise InputError(f"{path}: defaultTest must be a mapping")
    metadata = default.get("metadata") or {}
    own_labels = metadata.get(METADATA_LABELS) if isinstance(metadata, Mapping) else None
    own_column = metadata.get(METADATA_LABEL_COLUMN) if isinstance(metadata, Mapping) else None
    default_vars = default.get("vars") or {}
    if not isinstance(default_vars, Mapping):
        raise InputError(f"{path}: defaultTest.vars must be a mapping")
    default_asserts = list(default.get("assert") or [])
    for key in default:
        if key not in ("vars", "assert", "metadata", "options", "description"):
            notes.add(f"defaultTest {key}: not translated")
    tests = read_cases(data.get("tests"), base, path, notes)
    for metric in data.get("derivedMetrics") or []:
        name = metric.get("name", "?") if isinstance(metric, Mapping) else "?"
        value = metric.get("value", "") if isinstance(metric, Mapping) else metric
        notes.add(
            f"derivedMetrics {name} = {short(value, 50)}: not translated (the workbench computes its own metrics)"
        )

    options = data.get("evaluateOptions") or {}
    repeats = options.get("repeat", 1) if isinstance(options, Mapping) else 1
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InputError(f"{path}: evaluateOptions.repeat must be a whole number of at least 1 (got {repeats!r})")
    for key in options if isinstance(options, Mapping) else ():
        if key != "repeat":
            notes.add(f"evaluateOptions.{key}: not translated")

    # Gold labels: an equals assertion, else a var named by the metadata, the JSON-schema enum or 'label'.
    enums = [e for e in (response_enum({**provider_params, **p.config}) for p in raw_prompts) if e]
    candidates = [c for c in (own_column, *(name for name, _ in enums), "label") if isinstance(c, str)]
    default_transformed = read_options(default.get("options"), "defaultTest", notes)
    default_equals = equals_values(default_asserts, bool(own_labels), notes, True, default_transformed)
    set_name = f"{description or path.parent.name or path.stem}: promptfoo tests"
    samples, label_column = gold_samples(
        tests,
        default_vars,
        default_equals,
        default_transformed,
        candidates,
        own_labels,
        own_column,
        base,
        set_name,
        notes,
        path,
    )
    test_labels = [] if samples is None else list(dict.fromkeys(s.label for s in samples.samples))
    finished = finish_prompts(raw_prompts, provider_params, description, labels, own_labels, test_labels, path, notes)
    prompts = [prompt for _, prompt in finished]
    planned = planned_cells(finished, cells, only, notes)
    models = list(dict.fromkeys(model for model, _ in cells))
    temperatures = list(dict.fromkeys(t for _, t in cells))
    return ImportedConfig(
        prompts=prompts,
        samples=samples,
        models=models,
        temperatures=temperatures,
        repeats=repeats,
        untranslated=notes.lines(),
        label_column=label_column,
        cells=list(dict.fromkeys(cells)),
        description=description,
        planned=planned,
    )


def planned_cells(
    finished: list[tuple[RawPrompt, PromptFile]],
    cells: list[tuple[str, float | None]],
    only: list[list[str] | None],
    notes: Notes,
) -> list[tuple[str, str, float | None]]:
    """(prompt, model, temperature) for each prompt a provider runs (all, or those its ``prompts`` names)."""
    planned: dict[tuple[str, str, float | None], None] = {}
    for (model, temperature), refs in zip(cells, only, strict=True):
        for ref in refs or []:
            if not any(prompt_ref_matches(ref, raw.label, raw.ident) for raw, _ in finished):
                notes.add(f"provider {model}: prompts entry {short(ref, 40)} matches no imported prompt")
        for raw, prompt in finished:
            if refs is None or any(prompt_ref_matches(ref, raw.label, raw.ident) for ref in refs):
                planned[(prompt.name, model, temperature)] = None
    return list(planned)


def import_plan(imported: ImportedConfig) -> dict[str, Any]:
    """A JSON-ready summary for the CLI: prompt files (as mappings), models, temperatures, repeats, labels."""
    return {
        "prompt_files": [prompt.to_dict() for prompt in imported.prompts],
        "models": list(imported.models),
        "temperatures": list(imported.temperatures),
        "repeats": imported.repeats,
        "label_column": imported.label_column,
        "cells": [{"prompt": p, "model": m, "temperature": t} for p, m, t in imported.planned],
        "samples": None if imported.samples is None else len(imported.samples),
        "untranslated": list(imported.untranslated),
    }


Grid = tuple[list[str], list[str], list[float | None]]  # (prompt names, models, temperatures)


def sweep_grids(planned: Sequence[tuple[str, str, float | None]]) -> list[Grid]:
    """(prompts, models, temperatures) grids that together hold exactly the planned cells.

    ``sweep`` runs every prompt x model x temperature it is given, so cells that are not one full
    grid (exact provider pairs, providers limited to some prompts) become several sweeps.
    """
    prompts_of: dict[tuple[str, float | None], list[str]] = {}
    for prompt, model, temperature in planned:
        prompts_of.setdefault((model, temperature), []).append(prompt)
    per_model: dict[str, dict[tuple[str, ...], list[float | None]]] = {}
    for (model, temperature), prompts in prompts_of.items():
        per_model.setdefault(model, {}).setdefault(tuple(prompts), []).append(temperature)
    grids: dict[tuple[tuple[str, ...], tuple[float | None, ...]], list[str]] = {}
    for model, by_prompts in per_model.items():
        for prompt_names, temperatures in by_prompts.items():
            grids.setdefault((prompt_names, tuple(temperatures)), []).append(model)
    return [(list(p), models, list(t)) for (p, t), models in grids.items()]


def sweep_commands(imported: ImportedConfig, prompt_paths: Mapping[str, str], dataset_path: str) -> list[list[str]]:
    """The ``python -m workbench sweep`` argument lists that run the imported plan from written files."""
    commands = []
    for prompts, models, temperatures in sweep_grids(imported.planned):
        command = ["python", "-m", "workbench", "sweep"]
        for name in prompts:
            command += ["--prompt", prompt_paths[name]]
        command += ["--dataset", dataset_path, "--models", ",".join(models)]
        numbers = [t for t in temperatures if t is not None]
        if numbers:  # None: a model that takes no temperature (the sweep leaves it out by itself)
            command += ["--temperatures", ",".join(f"{t:g}" for t in numbers)]
        if imported.label_column != "label":
            command += ["--label-column", imported.label_column]
        if imported.repeats != 1:
            command += ["--repeats", str(imported.repeats)]
        commands.append(command)
    return commands
