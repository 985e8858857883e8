"""Sign-in for real: ``streamlit run app.py`` with ``[auth]`` configured, in headless Chromium.

A stand-in OpenID Connect provider runs on 127.0.0.1 (discovery document, an authorization page
that offers "Continue as ..." links, a token endpoint issuing RS256-signed ID tokens, and its
keys), so Streamlit's own ``st.login`` flow runs end to end without the internet. The database
holds a finished run. Signed out, every URL must show only the sign-in screen, and none of the
run's model names, prompt names or costs may be in the page; signing in goes through the stand-in
and back, and the role decides what the navigation offers. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import ARTIFACTS, CHROMIUM, chromium, free_port, seeded_app
from tests.test_ui_apptest import answer, seed_database

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-browser-auth-test-key-0123456789"
CLIENT_ID = "workbench-browser-test"
CLIENT_SECRET = "stand-in-client-secret-abcdef"
COOKIE_SECRET = "stand-in-cookie-secret-" + "0123456789" * 4
ADMIN = "admin@example.com"
MEMBER = "member@example.com"
STRANGER = "stranger@elsewhere.org"
SIGNED_OUT_URLS = ["", "compare?run=1", "compare", "runs", "runs?run=1", "prompts", "samples", "sweep", "export",
                   "admin", "no-such-page"]  # fmt: skip
MONEY = re.compile(r"\$\s?\d")

if not CHROMIUM.exists():
    pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
joserfc = pytest.importorskip("joserfc", reason="needs joserfc (installed with streamlit[auth]'s authlib)")
from joserfc import jwt  # noqa: E402
from joserfc.jwk import RSAKey  # noqa: E402

# --- a stand-in OpenID Connect provider ---------------------------------------------------------------


class StandInProvider:
    """Just enough of an OIDC provider for Streamlit's sign-in: discovery, authorize, token, keys."""

    def __init__(self, emails: list[str]) -> None:
        self.emails = emails
        self.key = RSAKey.generate_key(2048, parameters={"kid": "stand-in"})
        self.authorize_requests: list[dict[str, str]] = []
        self.codes: dict[str, tuple[str, str | None]] = {}  # code -> (email, nonce)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandInProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def id_token(self, email: str, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": email, "aud": CLIENT_ID, "iat": now, "exp": now + 600, "email": email,
                  "email_verified": True, "name": email.split("@")[0].title()}  # fmt: skip
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": "stand-in"}, claims, self.key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self._send(200, json.dumps(provider.discovery))
                elif url.path == "/jwks":
                    self._send(200, json.dumps({"keys": [provider.key.as_dict(private=False)]}))
                elif url.path == "/authorize":
                    provider.authorize_requests.append(query)
                    links = []
                    for email in provider.emails:
                        code = secrets.token_urlsafe(16)
                        provider.codes[code] = (email, query.get("nonce"))
                        target = (
                            query["redirect_uri"]
                            + "?"
                            + urllib.parse.urlencode({"code": code, "state": query["state"]})
                        )
                        links.append(f'<p><a href="{target}">Continue as {email}</a></p>')
                    self._send(200, "<html><body><h1>Stand-in sign-in</h1>" + "".join(links) + "</body></html>",
                               "text/html")  # fmt: skip
                else:
                    self._send(404, "{}")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                found = provider.codes.pop(form.get("code", ""), None)
                if self.path != "/token" or found is None:
                    self._send(400, json.dumps({"error": "invalid_grant"}))
                    return
                email, nonce = found
                token = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 600,
                         "id_token": provider.id_token(email, nonce), "scope": "openid email profile"}  # fmt: skip
                self._send(200, json.dumps(token))

        return Handler


# --- the app with sign-in configured ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def idp() -> Iterator[StandInProvider]:
    with StandInProvider([MEMBER, ADMIN, STRANGER]) as provider:
        yield provider


@pytest.fixture(scope="module")
def app(idp: StandInProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("browser-auth")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(
        f"""
[auth]
redirect_uri = "{url}/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "{idp.url}/.well-known/openid-configuration"

[workbench.access]
admins = ["{ADMIN}"]
members = ["@example.com"]
""",
        encoding="utf-8",
    )
    with seeded_app(
        folder, KEY, seed_database, answer, port=port, extra=["--secrets.files", str(secrets_file)]
    ) as started:
        assert started["url"] == url
        yield started


@pytest.fixture(scope="module")
def browser(app: dict[str, Any]) -> Iterator[Any]:
    with chromium(sync_api) as launched:
        yield launched


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies: nobody signed in) and a tab in it."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


def idle(tab: Any) -> None:
    """Wait until Streamlit has finished running the script and drawing."""
    tab.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]')"
        ' && !document.querySelector(\'[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]\')'
    )
    tab.wait_for_timeout(700)


def shoot(tab: Any, name: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"browser-auth-{name}.png"), full_page=True)


def buttons(tab: Any) -> list[str]:
    """The labels of the buttons on the page (without their icons' names)."""
    return [text.strip().split("\n")[-1] for text in tab.get_by_role("button").all_inner_texts() if text.strip()]


def nav_titles(tab: Any) -> list[str]:
    nav = tab.locator("[data-testid='stSidebarNav']")
    return [text.strip().split("\n")[-1] for text in nav.locator("a").all_inner_texts()]


def sign_in_as(tab: Any, app: dict[str, Any], idp: StandInProvider, email: str) -> None:
    tab.goto(str(app["url"]))
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{idp.url}/authorize**")
    tab.get_by_role("link", name=f"Continue as {email}").click()
    tab.wait_for_url(f"{app['url']}/**")
    idle(tab)


# --- signed out -------------------------------------------------------------------------------------------


def test_signed_out_every_url_shows_only_the_sign_in_screen(app: dict[str, Any], tab: Any) -> None:
    stored = ["seeded run", "sentiment-test", "reviews.csv", "gpt-4.1-nano", "gpt-4.1-mini", "Connection",
              "Running sweeps", str(app["server"].base_url), str(app["folder"]), "workbench.db", KEY]  # fmt: skip
    for path in SIGNED_OUT_URLS:
        tab.goto(f"{app['url']}/{path}")
        tab.get_by_role("button", name="Sign in").wait_for()
        idle(tab)
        name = path.split("?")[0] or "home"
        html = tab.content()
        assert tab.get_by_role("heading", name="Prompt workbench", level=1).count() == 1, name
        assert buttons(tab) == ["Sign in"], name
        assert tab.locator("[data-testid='stSidebarNav']").count() == 0, f"{name}: the navigation shows"
        assert tab.locator("[data-testid='stSidebarContent']").count() == 0, f"{name}: the sidebar shows"
        for text in stored:
            assert text not in html, f"{name}: {text!r} is in the page"
        assert not MONEY.search(tab.inner_text("body")), f"{name}: an amount is on the page"
        assert "Traceback" not in html and tab.locator("[data-testid='stException']").count() == 0, name
        if path in ("", "compare?run=1"):
            shoot(tab, f"signed-out-{name}")


def test_sign_in_goes_to_the_provider_and_back_as_a_member(app: dict[str, Any], idp: StandInProvider, tab: Any) -> None:
    tab.goto(f"{app['url']}/compare?run=1")
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{idp.url}/authorize**")
    request = idp.authorize_requests[-1]
    assert request["client_id"] == CLIENT_ID
    assert request["redirect_uri"] == f"{app['url']}/oauth2callback"
    assert request["response_type"] == "code" and "openid" in request["scope"].split()
    assert CLIENT_SECRET not in tab.url
    shoot(tab, "stand-in-provider")

    tab.get_by_role("link", name=f"Continue as {MEMBER}").click()
    tab.get_by_text(MEMBER).wait_for()
    assert tab.get_by_role("link", name=MEMBER).count() == 0  # shown as text, not a mailto: link
    tab.get_by_role("heading", name="Prompt workbench", level=1).wait_for()  # Home
    idle(tab)
    assert "member: run sweeps" in tab.inner_text("[data-testid='stSidebarContent']")
    assert nav_titles(tab) == ["Home", "Prompts", "Samples", "Sweep", "Compare", "Runs", "Export"]
    assert "seeded run" in tab.content()
    assert KEY not in tab.content()
    shoot(tab, "member-home")

    tab.goto(f"{app['url']}/compare?run=1")
    tab.get_by_role("heading", name="Compare", level=1).wait_for()
    idle(tab)
    shoot(tab, "member-compare")

    tab.goto(f"{app['url']}/admin")  # not in a member's navigation: Streamlit says "page not found"
    idle(tab)
    shoot(tab, "member-admin-url")
    assert tab.get_by_role("heading", name="Admin", level=1).count() == 0
    assert "Budgets" not in tab.content()
    tab.keyboard.press("Escape")
    tab.get_by_role("dialog").wait_for(state="detached")

    tab.get_by_role("button", name="Sign out").click()
    tab.get_by_role("button", name="Sign in").wait_for()
    idle(tab)
    assert "seeded run" not in tab.content() and MEMBER not in tab.content()


def test_an_admin_gets_the_admin_page(app: dict[str, Any], idp: StandInProvider, tab: Any) -> None:
    sign_in_as(tab, app, idp, ADMIN)
    tab.get_by_text(ADMIN).wait_for()
    assert nav_titles(tab)[-1] == "Admin"
    tab.goto(f"{app['url']}/admin")
    tab.get_by_role("heading", name="Admin", level=1).wait_for()
    tab.get_by_text("Spend per person").wait_for()
    idle(tab)
    assert tab.locator("[data-testid='stException']").count() == 0
    assert KEY not in tab.content()
    assert tab.get_by_text("SQLite database workbench.db").count() == 1  # hosted: no directory
    assert str(app["folder"]) not in tab.content()
    shoot(tab, "admin")


def test_someone_not_on_the_list_is_refused(app: dict[str, Any], idp: StandInProvider, tab: Any) -> None:
    sign_in_as(tab, app, idp, STRANGER)
    tab.get_by_text("is not on this workbench's list").wait_for()
    idle(tab)
    assert buttons(tab) == ["Sign out"]
    assert tab.locator("[data-testid='stSidebarNav']").count() == 0
    assert "seeded run" not in tab.content() and "gpt-4.1" not in tab.content()
    shoot(tab, "refused")


def test_the_server_log_holds_no_secret(app: dict[str, Any]) -> None:
    with urllib.request.urlopen(f"{app['url']}/_stcore/health", timeout=5) as response:
        assert response.status == 200
    log = Path(str(app["log"])).read_text()
    shutil.copy(app["log"], ARTIFACTS / "browser-auth-streamlit.log")
    for secret in (KEY, CLIENT_SECRET, COOKIE_SECRET):
        assert secret not in log
    assert "Traceback" not in log, log[-3000:]
