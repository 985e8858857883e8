"""Runtime prompt library: load the prompt files a team shipped and use them from application code.

    from workbench import prompts
    sentiment = prompts.load("sentiment")            # ./prompts/sentiment.yaml, or $WORKBENCH_PROMPTS_DIR
    body = sentiment.request("gpt-4.1-nano", temperature=0, text=review)
    answer = client.chat.completions.create(**body).choices[0].message.content
    label = sentiment.parse(answer)                  # one of sentiment.labels, or "unparsed"

Requests come from :func:`workbench.chat.request_body` (what the sweep sends) and labels from
:func:`workbench.scoring.parse_label`: the same functions the workbench measured with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.chat import request_body
from workbench.errors import InputError
from workbench.promptfile import NAME_PATTERN, PromptFile, load_prompt, save_prompt
from workbench.scoring import parse_label
from workbench.templating import render_messages

ENV_DIRECTORY = "WORKBENCH_PROMPTS_DIR"
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Prompt:
    """A loaded prompt file, ready to render requests and parse answers."""

    file: PromptFile

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.file.labels

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.file.params)

    @property
    def variables(self) -> list[str]:
        return self.file.variables

    def messages(self, /, **variables: object) -> list[dict[str, str]]:
        """The chat messages with ``{{name}}`` filled in (an unknown variable is an InputError)."""
        return render_messages(self.file.messages, variables)

    def request(self, model: str, /, temperature: float | None = None, **variables: object) -> dict[str, Any]:
        """The chat-completions body; ``temperature`` None leaves it out (models that take none)."""
        return request_body(self.file, model, temperature, variables)

    def parse(self, text: str | None) -> str:
        """The one label the answer names, or ``"unparsed"``."""
        return parse_label(text, self.labels)


def prompts_directory(directory: str | Path | None = None) -> Path:
    """``directory``, else ``$WORKBENCH_PROMPTS_DIR``, else ``./prompts`` (read at call time)."""
    if directory is not None:
        return Path(directory)
    return Path(os.environ.get(ENV_DIRECTORY) or "prompts")


def _checked_name(name: object) -> str:
    """A prompt name that stays inside its folder: no separators, no '..', not hidden, not absolute."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("prompt name is empty")
    if any(sep in name for sep in ("/", "\\", "\0")) or Path(name).is_absolute() or ".." in name:
        raise InputError(f"prompt name {name!r} must not contain '/', '\\' or '..'")
    if name.startswith("."):
        raise InputError(f"prompt name {name!r} must not start with '.'")
    if not NAME_PATTERN.match(name):
        raise InputError(f"prompt name {name!r} must be letters, digits, '.', '_' or '-' (at most 80)")
    return name


def list_prompts(directory: str | Path | None = None) -> list[str]:
    """Names of the prompt files in the folder, sorted (an absent folder has none)."""
    folder = prompts_directory(directory)
    if not folder.is_dir():
        return []
    names = {
        path.stem
        for path in folder.iterdir()
        if path.suffix in SUFFIXES and path.is_file() and not path.name.startswith(".")
    }
    return sorted(names)


def load(name: str, directory: str | Path | None = None) -> Prompt:
    """The prompt ``NAME.yaml`` (or ``.yml``) from the prompts folder."""
    for suffix in SUFFIXES:
        if isinstance(name, str) and name.endswith(suffix):
            name = name[: -len(suffix)]
    name = _checked_name(name)
    folder = prompts_directory(directory)
    for suffix in SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return Prompt(load_prompt(path))
    known = ", ".join(list_prompts(folder)) or "none"
    raise InputError(f"{folder}: no prompt {name!r} (found: {known})")


def save(prompt: PromptFile, name: str | None = None, directory: str | Path | None = None) -> Path:
    """Write ``NAME.yaml`` (default: the prompt's own name) into the prompts folder; returns its path.

    When ``name`` differs from the prompt's name, the saved file carries the new name so that
    the file name and its ``name:`` field agree.
    """
    name = _checked_name(prompt.name if name is None else name)
    if name != prompt.name:
        prompt = replace(prompt, name=name)
    folder = prompts_directory(directory)
    path = folder / f"{name}.yaml"
    if path.resolve().parent != folder.resolve():
        raise InputError(f"prompt name {name!r} would be written outside {folder}")
    return save_prompt(prompt, path)
