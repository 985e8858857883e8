"""Reading promptfoo files: YAML, ``file://`` references and globs, and the list of what was not translated."""

from __future__ import annotations

import glob
import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import InputError
from workbench.promptfile import NAME_PATTERN


class Notes:
    """Untranslated items, deduplicated, with a count when one repeats across tests."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, line: str) -> None:
        self.counts[line] = self.counts.get(line, 0) + 1

    def lines(self) -> list[str]:
        return [line if n == 1 else f"{line} ({n} times)" for line, n in self.counts.items()]


def short(value: Any, size: int = 70) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= size else text[: size - 1] + "…"


def slug(text: str) -> str:
    """A prompt-file name from free text ("Sentiment Analysis" -> "sentiment-analysis")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_text).strip("-._").lower()[:80].rstrip("-._")
    return name if NAME_PATTERN.match(name or "") else "promptfoo-prompt"


def read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the {what} ({type(exc).__name__})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{path}: broken YAML{where}: {getattr(exc, 'problem', None) or 'invalid'}") from None


def resolve_files(ref: str, base: Path, config: Path) -> list[Path]:
    """Paths of a ``file://`` reference, relative to the config; globs expand in sorted order."""
    spec = ref[len("file://") :]
    pattern = spec if Path(spec).is_absolute() else str(base / spec)
    if any(ch in spec for ch in "*?["):
        paths = [Path(p) for p in sorted(glob.glob(pattern, recursive=True))]
        if not paths:
            raise InputError(f"{config}: {ref} matches no file")
        return paths
    path = Path(pattern)
    if not path.is_file():
        raise InputError(f"{config}: {ref} not found (looked for {path})")
    return [path]
