"""The example library: prompt files in ``prompts/`` with their sample files, imported into the database.

Each ``NAME.yaml`` is stored as a prompt version and its sample file (``NAME.csv``, ``NAME.jsonl`` or
``NAME.json``) as a data set, so a fresh workbench has something to sweep. Importing is idempotent
(versions and data sets are identified by their content), so it can run on every start.

The gold label column is ``label`` when the file has one; otherwise the one column the prompt does
not use as a variable (``imdb_sentiment.csv`` keeps its label in ``sentiment``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from workbench.datasets import file_columns, parse_samples
from workbench.errors import InputError, WorkbenchError
from workbench.promptfile import load_prompt
from workbench.service import Workbench
from workbench.storage import repository as repo

log = logging.getLogger("workbench.library")

SAMPLE_SUFFIXES = (".csv", ".jsonl", ".json")
DEFAULT_LABEL = "label"


@dataclass(frozen=True)
class Seeded:
    prompt: str
    prompt_version_id: int
    dataset_id: int | None
    problem: str | None = None


def guess_label_column(columns: list[str], variables: list[str] | None = None) -> str | None:
    """``label`` if present; else the only column that is not a template variable; else None."""
    if DEFAULT_LABEL in columns:
        return DEFAULT_LABEL
    if variables is not None:
        rest = [c for c in columns if c not in variables]
        if len(rest) == 1:
            return rest[0]
    return None


def sample_file_for(prompt_path: Path) -> Path | None:
    for suffix in SAMPLE_SUFFIXES:
        candidate = prompt_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def seed_examples(wb: Workbench, prompts_dir: str | Path, created_by: str | None = None) -> list[Seeded]:
    """Store every prompt file in ``prompts_dir`` and its matching sample file; returns what was stored.

    A broken example is skipped with its problem recorded (and logged), never raised: the workbench
    must start even when someone left a half-edited file in the folder.
    """
    folder = Path(prompts_dir)
    if not folder.is_dir():
        return []
    seeded: list[Seeded] = []
    for path in sorted(folder.glob("*.y*ml")):
        if path.name.startswith(".") or path.suffix not in (".yaml", ".yml"):
            continue
        try:
            prompt = load_prompt(path)
            version = repo.save_prompt_version(
                wb.engine, prompt, note=f"example from {folder.name}/{path.name}", created_by=created_by
            )
        except WorkbenchError as exc:
            log.warning("skipping example %s: %s", path.name, exc)
            continue
        data_path = sample_file_for(path)
        if data_path is None:
            seeded.append(Seeded(prompt.name, version.id, None, "no sample file"))
            continue
        try:
            data = data_path.read_bytes()
            label = guess_label_column(file_columns(data, data_path.name), prompt.variables)
            if label is None:
                raise InputError(f"{data_path.name}: cannot tell which column holds the gold label")
            samples = parse_samples(data, data_path.name, label)
            dataset = repo.save_dataset(
                wb.engine, samples, source=f"{folder.name}/{data_path.name}", created_by=created_by
            )
        except WorkbenchError as exc:
            log.warning("skipping sample file %s: %s", data_path.name, exc)
            seeded.append(Seeded(prompt.name, version.id, None, str(exc)))
            continue
        seeded.append(Seeded(prompt.name, version.id, dataset.id))
    return seeded
