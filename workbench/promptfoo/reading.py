"""Reading promptfoo files: YAML, ``file://`` references and globs, and the list of what was not translated."""

from __future__ import annotations

import glob
import re
import unicodedata
from pathlib import Path
from typing import Any

from workbench import yamlsafe
from workbench.errors import InputError
from workbench.export import jsyaml
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
    # As promptfoo reads it (YAML 1.2 core schema: Yes, 1_000, 12:30 stay text), aliases bounded.
    return yamlsafe.load(text, str(path), loader=jsyaml.JsYamlLoader)


def referenced_file(spec: str, base: Path, config: Path, ref: str | None = None) -> Path:
    """The one way a promptfoo import reaches a file: ``spec`` relative to the config's folder ``base``.

    Returns the resolved path (symlinks followed) of a regular file inside ``base``, which is then
    opened as returned. Anything else is refused before the file system is asked whether it
    exists: absolute paths, ``..`` steps, a symlink (or a glob match) leading out of the folder,
    NUL bytes. However the reference is spelled (YAML escapes only change its spelling), an import
    reads nothing outside its own folder; for an upload that folder holds only the uploaded files.
    """
    shown = ref or f"file://{spec}"
    root = base.resolve()
    _refuse_escapes(spec, config, shown)
    try:
        path = (root / spec).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an unreadable step
        raise _outside(config, shown) from None
    if not path.is_relative_to(root):
        raise _outside(config, shown)
    if not path.is_file():
        raise InputError(f"{config}: {shown} not found (looked for {path})")
    return path


def _refuse_escapes(spec: str, config: Path, ref: str) -> None:
    """Refuse, by its spelling alone, a reference that names something outside the folder."""
    relative = Path(spec.replace("\\", "/"))
    if "\x00" in spec or relative.is_absolute() or ".." in relative.parts or spec.startswith("~"):
        raise _outside(config, ref)


def _outside(config: Path, ref: str) -> InputError:
    return InputError(
        f"{config}: {short(ref, 120)} points outside the config's folder; only files next to the config "
        "(or below it) are read: copy the file there and refer to it by name"
    )


def resolve_files(ref: str, base: Path, config: Path) -> list[Path]:
    """Paths of a ``file://`` reference, relative to the config and inside its folder; globs expand sorted."""
    spec = ref[len("file://") :]
    if not any(ch in spec for ch in "*?["):
        return [referenced_file(spec, base, config, ref)]
    _refuse_escapes(spec, config, ref)
    root = base.resolve()
    matches = sorted(glob.glob(spec, root_dir=root, recursive=True))
    paths = [referenced_file(match, base, config, ref) for match in matches if (root / match).is_file()]
    if not paths:
        raise InputError(f"{config}: {ref} matches no file")
    return paths
