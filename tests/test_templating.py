"""``{{variable}}`` substitution: literal, one pass, unknown names named."""

from __future__ import annotations

import pytest

from workbench.errors import InputError
from workbench.templating import (
    check_values,
    message_variables,
    missing_variables,
    render,
    render_messages,
    variables,
)

TRICKY = ["{{label}}", "{0.__class__}", "%s", "{% raw %}", "{{ text }}", "\\1", "\\g<0>", "${HOME}", "{}"]


@pytest.mark.parametrize("value", TRICKY)
def test_values_are_inserted_literally(value):
    assert render("Review: {{text}} (end)", {"text": value, "label": "SECRET"}) == f"Review: {value} (end)"


def test_no_second_pass_over_inserted_text():
    values = {"a": "{{b}}", "b": "should not appear"}
    assert render("{{a}}|{{b}}", values) == "{{b}}|should not appear"


def test_whitespace_inside_braces_and_repeats():
    assert render("{{ x }}-{{x}}-{{x }}", {"x": "1"}) == "1-1-1"
    assert variables("{{ x }} {{y}} {{x}}") == ["x", "y"]


def test_single_braces_and_format_fields_are_left_alone():
    assert render("{x} {0} %(x)s {{x}}", {"x": "v"}) == "{x} {0} %(x)s v"


def test_none_becomes_empty_and_numbers_become_text():
    assert render("[{{a}}][{{b}}]", {"a": None, "b": 3}) == "[][3]"


def test_unknown_variable_error_names_it():
    with pytest.raises(InputError, match=r"\{\{missing\}\}") as info:
        render("Hello {{missing}}", {"text": "x"})
    assert "missing" in str(info.value)
    assert "\n" not in str(info.value)


def test_message_helpers():
    messages = [
        {"role": "system", "content": "Labels for {{domain}}"},
        {"role": "user", "name": "u1", "content": "{{text}} {{domain}}"},
    ]
    assert message_variables(messages) == ["domain", "text"]
    assert missing_variables(messages, ["text"]) == ["domain"]
    rendered = render_messages(messages, {"domain": "{{text}}", "text": "t"})
    assert rendered == [
        {"role": "system", "content": "Labels for {{text}}"},
        {"role": "user", "name": "u1", "content": "t {{text}}"},
    ]
    assert messages[0]["content"] == "Labels for {{domain}}"  # input not modified


def test_try_it_values_that_leave_a_variable_empty_are_refused() -> None:
    messages = [{"role": "system", "content": "Classify."}, {"role": "user", "content": "{{title}}: {{text}}"}]
    check_values(messages, {"title": "A", "text": "B"})
    with pytest.raises(InputError, match=r"give a value for \{\{text\}\} before sending"):
        check_values(messages, {"title": "A", "text": "   "})
    with pytest.raises(InputError, match=r"\{\{title\}\}, \{\{text\}\}"):
        check_values(messages, {})
