"""Prompt files: validation with messages that name the field, round trips, content identity."""

from __future__ import annotations

import pytest

from workbench.errors import InputError
from workbench.promptfile import PromptFile, load_prompt, parse_prompt, prompt_from_dict, save_prompt

GOOD = """\
name: tickets
description: Route support tickets.
labels: [billing, technical, account]
messages:
  - role: system
    content: |
      Route the ticket to one of: billing, technical, account.
      Answer with the label only.
  - role: user
    content: "{{subject}}: {{body}}"
params:
  max_tokens: 5
"""


def test_parse_good_prompt():
    prompt = parse_prompt(GOOD, "tickets.yaml")
    assert prompt.name == "tickets"
    assert prompt.labels == ("billing", "technical", "account")
    assert prompt.variables == ["subject", "body"]
    assert prompt.params == {"max_tokens": 5}
    assert prompt.messages[1] == {"role": "user", "content": "{{subject}}: {{body}}"}


def test_yaml_round_trip_keeps_content_and_hash(tmp_path):
    prompt = parse_prompt(GOOD)
    path = save_prompt(prompt, tmp_path / "sub" / "t.yaml")
    again = load_prompt(path)
    assert again == prompt
    assert again.content_hash == prompt.content_hash
    assert "|" in path.read_text()  # multi-line content stays a readable block


def test_content_hash_ignores_name_and_description_but_not_messages():
    prompt = parse_prompt(GOOD)
    renamed = PromptFile("other", prompt.labels, prompt.messages, "different text", prompt.params)
    assert renamed.content_hash == prompt.content_hash
    edited = PromptFile(prompt.name, prompt.labels, prompt.messages[:1], prompt.description, prompt.params)
    assert edited.content_hash != prompt.content_hash


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nlabels: [a\nmessages: []\n", "broken YAML at line"),
        ("- just\n- a list\n", "mapping"),
        ("name: 'bad name!'\nlabels: [a]\nmessages: [{role: user, content: hi}]\n", "'name'"),
        ("name: x\nlabels: []\nmessages: [{role: user, content: hi}]\n", "'labels'"),
        ("name: x\nlabels: [a, a]\nmessages: [{role: user, content: hi}]\n", "distinct"),
        ("name: x\nlabels: [unparsed]\nmessages: [{role: user, content: hi}]\n", "reserved"),
        ("name: x\nlabels: [a]\nmessages: []\n", "'messages'"),
        ("name: x\nlabels: [a]\nmessages: [{role: robot, content: hi}]\n", "message 1 has role 'robot'"),
        ("name: x\nlabels: [a]\nmessages: [{role: user}]\n", "message 1 needs"),
        ("name: x\nlabels: [a]\nmessages: [{role: user, content: hi}]\nparams: {temperature: 1}\n", "temperature"),
        ("name: x\nlabels: [a]\nmessages: [{role: user, content: hi}]\nparams: {foo: 1}\n", "unsupported param"),
        ("name: x\nlabels: [a]\nmessages: [{role: user, content: hi}]\nextra: 1\n", "unknown field"),
    ],
)
def test_bad_prompt_files_get_one_line_messages(text, needle):
    with pytest.raises(InputError) as info:
        parse_prompt(text, "p.yaml")
    message = str(info.value)
    assert needle in message
    assert message.startswith("p.yaml")
    assert "\n" not in message


def test_missing_empty_and_non_utf8_files(tmp_path):
    with pytest.raises(InputError, match="no such prompt file"):
        load_prompt(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("  \n")
    with pytest.raises(InputError, match="empty"):
        load_prompt(tmp_path / "empty.yaml")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_prompt(tmp_path / "latin1.yaml")
    with pytest.raises(InputError, match="folder"):
        load_prompt(tmp_path)


def test_message_name_is_kept():
    prompt = prompt_from_dict(
        {"name": "n", "labels": ["a"], "messages": [{"role": "system", "name": "example_user", "content": "x"}]}
    )
    assert prompt.messages[0] == {"role": "system", "content": "x", "name": "example_user"}
