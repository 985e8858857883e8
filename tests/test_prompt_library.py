"""The runtime prompt library (workbench.prompts): save, list, load, render, request, parse."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.support.fake_openai import FakeOpenAI, scripted_responder
from workbench import prompts
from workbench.errors import InputError
from workbench.export import request_body
from workbench.promptfile import load_prompt, prompt_from_dict

KEY = "sk-test-library-0123"
SENTIMENT = prompt_from_dict(
    {
        "name": "sentiment",
        "description": "Sentiment of a short review.",
        "labels": ["positive", "negative", "neutral"],
        "messages": [
            {"role": "system", "content": "Answer positive, negative or neutral."},
            {"role": "user", "content": "Review: {{text}}"},
        ],
        "params": {"max_tokens": 5},
    }
)


def test_save_list_and_load_round_trip(tmp_path: Path) -> None:
    path = prompts.save(SENTIMENT, directory=tmp_path)
    assert path == tmp_path / "sentiment.yaml"
    assert prompts.list_prompts(tmp_path) == ["sentiment"]
    loaded = prompts.load("sentiment", tmp_path)
    assert loaded.file == SENTIMENT
    assert loaded.name == "sentiment" and loaded.labels == SENTIMENT.labels
    assert loaded.params == {"max_tokens": 5} and loaded.variables == ["text"]
    assert prompts.load("sentiment.yaml", tmp_path).file == SENTIMENT


def test_save_under_another_name_renames_the_prompt(tmp_path: Path) -> None:
    path = prompts.save(SENTIMENT, "sentiment-v2", tmp_path)
    assert path.name == "sentiment-v2.yaml"
    assert load_prompt(path).name == "sentiment-v2"
    assert prompts.load("sentiment-v2", tmp_path).file.messages == SENTIMENT.messages


def test_directory_comes_from_the_environment_then_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(prompts.ENV_DIRECTORY, raising=False)
    assert prompts.save(SENTIMENT) == Path("prompts") / "sentiment.yaml"
    assert prompts.list_prompts() == ["sentiment"]
    elsewhere = tmp_path / "shipped"
    monkeypatch.setenv(prompts.ENV_DIRECTORY, str(elsewhere))
    assert prompts.list_prompts() == []
    prompts.save(SENTIMENT, "other")
    assert prompts.list_prompts() == ["other"]
    assert (elsewhere / "other.yaml").is_file()


def test_list_ignores_hidden_and_other_files(tmp_path: Path) -> None:
    prompts.save(SENTIMENT, directory=tmp_path)
    (tmp_path / ".draft.yaml").write_text("x", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "legacy.yml").write_text(SENTIMENT.to_yaml().replace("sentiment", "legacy", 1), encoding="utf-8")
    assert prompts.list_prompts(tmp_path) == ["legacy", "sentiment"]
    assert prompts.load("legacy", tmp_path).name == "legacy"
    assert prompts.list_prompts(tmp_path / "absent") == []


@pytest.mark.parametrize("name", ["", "  ", "..", "../evil", "a/b", "a\\b", "/etc/passwd", ".hidden", "x..y", "a b"])
def test_names_that_escape_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="prompt name"):
        prompts.save(SENTIMENT, name, tmp_path / "lib")
    with pytest.raises(InputError, match="prompt name"):
        prompts.load(name, tmp_path / "lib")
    assert not (tmp_path / "lib").exists() or not any((tmp_path / "lib").iterdir())


def test_unknown_prompt_lists_what_is_there(tmp_path: Path) -> None:
    prompts.save(SENTIMENT, directory=tmp_path)
    with pytest.raises(InputError, match=r"no prompt 'spam' \(found: sentiment\)"):
        prompts.load("spam", tmp_path)


def test_messages_request_and_parse() -> None:
    prompt = prompts.Prompt(SENTIMENT)
    text = "{{label}} %s {0} stays literal"
    assert prompt.messages(text=text)[1] == {"role": "user", "content": f"Review: {text}"}
    assert prompt.request("gpt-4.1-nano", temperature=0, text=text) == request_body(
        SENTIMENT, "gpt-4.1-nano", 0, {"text": text}
    )
    assert "temperature" not in prompt.request("o4-mini", text="x")
    assert prompt.parse("Label: Negative.") == "negative"
    assert prompt.parse("positive or negative") == "unparsed"
    assert prompt.parse(None) == "unparsed"
    with pytest.raises(InputError, match="text"):
        prompt.messages(review="wrong name")


def test_a_variable_may_be_called_model() -> None:
    prompt = prompts.Prompt(
        prompt_from_dict({**SENTIMENT.to_dict(), "messages": [{"role": "user", "content": "{{model}}"}]})
    )
    body = prompt.request("gpt-4.1-nano", temperature=0.5, model="a car")
    assert body["model"] == "gpt-4.1-nano" and body["messages"][0]["content"] == "a car"


def test_application_code_round_trip_through_the_openai_sdk(tmp_path: Path) -> None:
    prompts.save(SENTIMENT, directory=tmp_path)
    prompt = prompts.load("sentiment", tmp_path)
    responder = scripted_responder({"soup": "Positive!", "Rude": "negative"}, default="hmm")
    with FakeOpenAI(api_keys={KEY}, responder=responder) as server:
        client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        labels = []
        for review in ("Lovely soup", "Rude waiter", "It exists"):
            answer = client.chat.completions.create(**prompt.request("gpt-4.1-nano", temperature=0, text=review))
            labels.append(prompt.parse(answer.choices[0].message.content))
        bodies = [r["body"] for r in server.chat_requests()]
    assert labels == ["positive", "negative", "unparsed"]
    assert bodies[0] == request_body(SENTIMENT, "gpt-4.1-nano", 0, {"text": "Lovely soup"})
