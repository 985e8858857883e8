"""The API key never leaves through text a server sends back or through a credentialed base URL.

A hostile (or careless) server answers 400 with a message that echoes the request's
``Authorization`` header; ``OPENAI_BASE_URL`` may carry ``user:password@``. Neither may reach
stderr, ``--json``, ``runs.error``, ``run_items.error``, the stored URLs or the page.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests import test_ui_apptest as apptest
from tests.conftest import PROMPT_YAML, SAMPLES_CSV, cli_env
from tests.support.fake_openai import FakeOpenAI
from workbench.errors import RequestError
from workbench.redaction import redact, redact_url, register

# A gateway key that does not look like OpenAI's: only knowing the key can take it out.
GATEWAY_KEY = "gw-live-0123456789abcdef"
server, seeded, env = apptest.server, apptest.seeded, apptest.env


def test_redact_takes_out_keys_bearer_tokens_and_url_credentials() -> None:
    register(GATEWAY_KEY)
    text = redact(
        f"400: Authorization: Bearer sk-proj-AbC123456789xyz; {GATEWAY_KEY} at http://me:pw-9@host:8/v1 "
        '{"authorization": "Basic dXNlcjpwYXNzd29yZA=="} api-key: 0123456789abcdef'
    )
    assert "sk-proj" not in text and GATEWAY_KEY not in text and "me:pw-9" not in text
    assert "dXNlcjpwYXNzd29yZA" not in text and "0123456789abcdef" not in text
    assert "host:8/v1" in text and text.startswith("400: Authorization: Bearer [redacted]")
    assert redact_url("http://u:sk-abc123456@127.0.0.1:9/v1?api-key=s3cret&x=1") == (
        "http://127.0.0.1:9/v1?api-key=[redacted]&x=1"
    )
    assert redact_url("https://api.openai.com/v1") == "https://api.openai.com/v1"
    assert str(RequestError(f"refused: Bearer {GATEWAY_KEY}")) == "refused: Bearer [redacted]"


def _files(tmp_path: Path) -> tuple[Path, Path]:
    prompt, samples = tmp_path / "p.yaml", tmp_path / "s.csv"
    prompt.write_text(PROMPT_YAML)
    samples.write_text(SAMPLES_CSV)
    return prompt, samples


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _database_text(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT error, base_url, plan_json FROM runs").fetchall()
        rows += conn.execute("SELECT error, NULL, NULL FROM run_items").fetchall()
        rows += conn.execute("SELECT base_url, request_json, NULL FROM responses").fetchall()
    return "\n".join(str(value) for row in rows for value in row)


@pytest.mark.parametrize("key", [GATEWAY_KEY, "sk-proj-Zz9876543210abcdefXY"])
def test_a_400_echoing_the_authorization_header_never_shows_the_key(tmp_path: Path, key: str) -> None:
    prompt, samples = _files(tmp_path)
    db = tmp_path / "wb.db"
    with FakeOpenAI(api_keys={key}, faults=["echo_auth"] * 50) as fake:
        env = cli_env(fake.base_url, f"sqlite:///{db}", key=key)
        sweep = ["sweep", "--prompt", prompt, "--dataset", samples, "--models", "gpt-4.1-nano", "--temperatures", "0"]
        done = _cli([*map(str, sweep), "--json"], env, tmp_path)
        assert fake.calls == 6 and all(r["fault"] == "echo_auth" for r in fake.chat_requests())
        assert key in fake.chat_requests()[0]["headers"]["authorization"]  # the server did get the key
        shown = [done.stdout, done.stderr]
        assert "invalid header" in done.stdout.lower() or "invalid header" in done.stderr.lower()
        for args in (["runs", "--json"], ["show", "1", "--json"]):
            later = _cli(args, env, tmp_path)
            shown += [later.stdout, later.stderr]
    assert "[redacted]" in "".join(shown)
    for text in [*shown, _database_text(db)]:
        assert key not in text and "Traceback" not in text


def test_a_base_url_with_credentials_is_used_but_never_stored_or_printed(tmp_path: Path) -> None:
    prompt, samples = _files(tmp_path)
    db = tmp_path / "wb.db"
    with FakeOpenAI() as fake:  # httpx sends the URL's credentials as Basic auth, which a gateway checks
        url = fake.base_url.replace("http://", f"http://proxyuser:{GATEWAY_KEY}@")
        env = cli_env(url, f"sqlite:///{db}", key=GATEWAY_KEY)
        sweep = ["sweep", "--prompt", prompt, "--dataset", samples, "--models", "gpt-4.1-nano", "--temperatures", "0"]
        done = _cli([*map(str, sweep), "--json"], env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert fake.completed == 6
        shown = [done.stdout, done.stderr]
        for args in (["runs", "--json"], ["resume", "1"]):
            later = _cli(args, env, tmp_path)
            assert later.returncode == 0, later.stderr  # resuming under the same (credentialed) URL works
            shown += [later.stdout, later.stderr]
        assert fake.completed == 6
    stored = _database_text(db)
    assert fake.base_url in stored  # the server is named, without its credentials
    for text in [*shown, stored]:
        assert GATEWAY_KEY not in text and "proxyuser" not in text


def test_the_sidebar_shows_the_server_without_its_credentials(
    env: dict[str, object], server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url.replace("http://", f"http://proxyuser:{GATEWAY_KEY}@"))
    at = apptest.start()
    page = apptest.rendered(at)
    assert server.base_url in page
    assert GATEWAY_KEY not in page and "proxyuser" not in page
