"""A promptfoo import reads only inside its own folder, however a ``file://`` reference is spelled.

The probes are the ones that read the server's environment (its API key) and its sign-in secrets
through an uploaded config (issue 12): YAML escapes, absolute paths, ``..`` steps, globs and
symlinks leading out of the folder. Each one must be refused with one line naming the reference,
before anything outside the folder is opened, in the core and in the CLI alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import InputError
from workbench.promptfoo import parse_config

SECRET = "client_secret = 'the-servers-sign-in-secret'\ncookie_secret = 'forge-me'\n"
PROVIDERS = "providers: [openai:gpt-4.1-nano]\n"
TESTS = "tests:\n  - vars: {text: hi}\n    assert: [{type: equals, value: positive}]\n"

# Each probe: the YAML of a config whose reads must all stay inside its folder.
PROBES = {
    "escaped environ": 'prompts: ["\\x66ile:///proc/self/environ"]\n' + PROVIDERS + TESTS,
    "escaped secrets via cwd": 'prompts: ["\\x66ile://../../../../proc/self/cwd/.streamlit/secrets.toml"]\n'
    + PROVIDERS
    + TESTS,
    "absolute prompt": "prompts: [file:///etc/hostname]\n" + PROVIDERS + TESTS,
    "dot-dot prompt": "prompts: [file://../secrets.toml]\n" + PROVIDERS + TESTS,
    "dot-dot inside the path": "prompts: [file://sub/../../secrets.toml]\n" + PROVIDERS + TESTS,
    "symlink out": "prompts: [file://link.txt]\n" + PROVIDERS + TESTS,
    "symlinked folder out": "prompts: [file://linked/secrets.toml]\n" + PROVIDERS + TESTS,
    "glob out": "prompts: [file://../*.toml]\n" + PROVIDERS + TESTS,
    "absolute glob": "prompts: ['file:///proc/self/*']\n" + PROVIDERS + TESTS,
    "glob through a symlinked folder": "prompts: ['file://linked/*.toml']\n" + PROVIDERS + TESTS,
    "tests file": "prompts: ['{{text}}']\n" + PROVIDERS + "tests: file://../secrets.csv\n",
    "defaultTest file": "prompts: ['{{text}}']\n" + PROVIDERS + "defaultTest: file:///etc/hostname\n" + TESTS,
    "var file": "prompts: ['{{text}}']\n"
    + PROVIDERS
    + "tests:\n  - vars: {text: 'file://../secrets.csv'}\n    assert: [{type: equals, value: positive}]\n",
    "home": "prompts: ['file://~/.bashrc']\n" + PROVIDERS + TESTS,
}


@pytest.fixture
def server_files(tmp_path: Path) -> Path:
    """A server's layout: secrets next to the upload folder; inside it, symlinks that lead out."""
    (tmp_path / "secrets.toml").write_text(SECRET)
    (tmp_path / "secrets.csv").write_text("text,label\nthe-servers-sign-in-secret,positive\n")
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "link.txt").symlink_to(tmp_path / "secrets.toml")
    (folder / "linked").symlink_to(tmp_path, target_is_directory=True)
    return folder


@pytest.mark.parametrize("probe", list(PROBES))
def test_a_reference_outside_the_config_folder_is_refused(server_files: Path, probe: str) -> None:
    config = server_files / "promptfooconfig.yaml"
    config.write_text(PROBES[probe])
    with pytest.raises(InputError, match="points outside the config's folder") as caught:
        parse_config(config, labels=["positive", "negative"])
    message = str(caught.value)
    assert "\n" not in message and "the-servers-sign-in-secret" not in message and "OPENAI" not in message


def test_files_inside_the_folder_still_import_including_a_symlink_that_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "classify.txt").write_text("Classify: {{text}}")
    (tmp_path / "alias.txt").symlink_to(tmp_path / "prompts" / "classify.txt")
    (tmp_path / "tests.csv").write_text("text,__expected\nhello,positive\nbye,negative\n")
    (tmp_path / "review.txt").write_text("a long review")
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        'prompts: ["\\x66ile://prompts/*.txt", file://alias.txt]\n'
        + PROVIDERS
        + "tests:\n  - file://tests.csv\n  - vars: {text: file://review.txt}\n"
        "    assert: [{type: equals, value: positive}]\n"
    )
    imported = parse_config(config)
    assert [p.messages[0]["content"] for p in imported.prompts] == ["Classify: {{text}}"] * 2
    assert imported.samples is not None
    assert [s.variables["text"] for s in imported.samples.samples] == ["hello", "bye", "a long review"]


def test_the_cli_refuses_the_probes_with_one_line(run_cli, server_files: Path) -> None:
    for probe in ("escaped environ", "escaped secrets via cwd", "symlink out"):
        config = server_files / "promptfooconfig.yaml"
        config.write_text(PROBES[probe])
        code, out, err = run_cli(["import-promptfoo", str(config), "--labels", "positive,negative", "--json"])
        assert code != 0, probe
        assert out == "", probe
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "points outside the config's folder" in lines[0]
        assert "Traceback" not in err and "the-servers-sign-in-secret" not in err and "sk-" not in err
