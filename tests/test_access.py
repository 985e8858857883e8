"""Sign-in configuration, the allow-list, roles, the permission matrix, hosted mode and which key pays."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.access import (
    ACTIONS,
    AccessPolicy,
    auth_providers,
    can,
    key_kind,
    load_secrets_file,
    normalize_email,
    paying_settings,
)
from workbench.config import Secret, Settings
from workbench.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-long-random-cookie-secret-for-tests",
    "client_id": "client-123",
    "client_secret": "client-secret-456",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def policy(access: dict | None = None, env: dict | None = None, auth: dict | None = AUTH) -> AccessPolicy:
    secrets: dict = {}
    if auth is not None:
        secrets["auth"] = auth
    if access is not None:
        secrets["workbench"] = {"access": access}
    return AccessPolicy.from_config(secrets, env or {})


# --- roles -------------------------------------------------------------------------------------


def test_email_entry_beats_domain_entry_and_domain_beats_anyone():
    p = policy({"admins": ["boss@example.com"], "members": ["@example.com", "viewer@x.org"], "viewers": ["*",
               "carol@example.com"]})  # fmt: skip
    assert p.role_for("boss@example.com") == "admin"
    assert p.role_for("dave@example.com") == "member"  # the domain
    assert p.role_for("carol@example.com") == "viewer"  # her e-mail entry beats the domain's member role
    assert p.role_for("viewer@x.org") == "member"
    assert p.role_for("stranger@elsewhere.net") == "viewer"  # only through "*"


def test_matching_ignores_case_and_surrounding_spaces():
    p = policy({"admins": ["Alice@Example.COM"], "members": ["@Team.Example.com"]})
    assert p.role_for("alice@example.com") == "admin"
    assert p.role_for("  ALICE@example.com ") == "admin"
    assert p.role_for("Bob@TEAM.example.COM") == "member"


def test_unknown_people_subdomains_and_missing_addresses_get_no_role():
    p = policy({"admins": ["alice@example.com"], "members": ["@example.com"]})
    assert p.role_for("mallory@evil.com") is None
    assert p.role_for("bob@sub.example.com") is None  # a domain entry is that domain only
    assert p.role_for("bob@example.com.evil.com") is None
    assert p.role_for(None) is None
    assert p.role_for("") is None
    assert p.role_for("not-an-address") is None


def test_most_privileged_role_wins_within_one_level():
    p = policy({"admins": ["both@example.com", "@example.org"], "viewers": ["both@example.com", "@example.org"]})
    assert p.role_for("both@example.com") == "admin"
    assert p.role_for("someone@example.org") == "admin"


def test_with_auth_and_no_allow_list_nobody_gets_in():
    p = policy(None)
    assert p.auth_enabled and not p.has_allow_list
    assert p.role_for("alice@example.com") is None
    assert not p.user("alice@example.com").allowed


def test_environment_lists_are_comma_separated_and_added_to_secrets():
    env = {"WORKBENCH_ADMINS": " root@example.com , ops@example.com", "WORKBENCH_VIEWERS": "@partner.org"}
    p = policy({"members": ["@example.com"]}, env=env)
    assert p.role_for("ops@example.com") == "admin"
    assert p.role_for("dev@example.com") == "member"
    assert p.role_for("guest@partner.org") == "viewer"
    flat = AccessPolicy.from_config({"auth": AUTH, "WORKBENCH_MEMBERS": "x@y.com"}, {})
    assert flat.role_for("x@y.com") == "member"  # the environment's names also work at the top of secrets


@pytest.mark.parametrize(
    ("access", "env", "named"),
    [
        ({"admins": ["bob"]}, {}, "admins"),
        ({"members": "@"}, {}, "members"),
        ({"viewers": 42}, {}, "viewers"),
        ({}, {"WORKBENCH_MEMBERS": "a@b.com, not an address"}, "WORKBENCH_MEMBERS"),
    ],
)
def test_bad_allow_list_entries_are_one_line_errors_naming_the_list(access, env, named):
    with pytest.raises(InputError, match=named) as info:
        policy(access, env=env)
    assert "\n" not in str(info.value)


def test_an_unverified_address_gets_no_role():
    p = policy({"members": ["@example.com"]})
    assert p.user("bob@example.com", email_verified=True).role == "member"
    assert p.user("bob@example.com").role == "member"  # providers that do not say
    assert p.user("bob@example.com", email_verified=False).role is None


# --- local mode and hosted mode ---------------------------------------------------------------


def test_without_auth_everyone_is_a_local_admin():
    p = AccessPolicy.from_config({"workbench": {"access": {"viewers": ["alice@example.com"]}}}, {})
    assert p.local and not p.auth_enabled and not p.hosted
    assert p.role_for("alice@example.com") == "admin"
    assert p.role_for(None) == "admin"
    me = p.user(None)
    assert (me.id, me.label, me.role, me.local) == (None, "local", "admin", True)
    assert all(me.can(action) for action in ACTIONS)
    assert AccessPolicy().role_for("anyone@anywhere.com") == "admin"


def test_hosted_mode_from_auth_environment_or_secrets():
    assert policy({}).hosted
    assert AccessPolicy.from_config({}, {"WORKBENCH_HOSTED": "1"}).hosted
    assert AccessPolicy.from_config({"workbench": {"hosted": True}}, {}).hosted
    assert not AccessPolicy.from_config({"workbench": {"hosted": True}}, {"WORKBENCH_HOSTED": "0"}).hosted
    hosted_local = AccessPolicy.from_config({}, {"WORKBENCH_HOSTED": "yes"})
    assert hosted_local.local and hosted_local.role_for(None) == "admin"
    with pytest.raises(InputError, match="WORKBENCH_HOSTED"):
        AccessPolicy.from_config({}, {"WORKBENCH_HOSTED": "maybe"})


# --- the [auth] section ------------------------------------------------------------------------


def test_credentials_directly_in_auth_are_the_default_provider():
    p = policy({})
    assert p.providers == ("default",)
    assert p.login_provider is None  # st.login() without a name


def test_named_providers():
    auth = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    auth["okta"] = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    auth["okta"]["client_kwargs"] = {"prompt": "login"}
    p = policy({}, auth=auth)
    assert p.providers == ("okta",)
    assert p.login_provider == "okta"


@pytest.mark.parametrize("missing", ["redirect_uri", "cookie_secret", "client_id", "server_metadata_url"])
def test_an_incomplete_auth_section_is_an_error_not_local_mode(missing):
    auth = {k: v for k, v in AUTH.items() if k != missing}
    with pytest.raises(InputError, match=missing):
        auth_providers({"auth": auth})


def test_an_auth_section_without_a_provider_is_an_error():
    with pytest.raises(InputError, match="provider"):
        auth_providers({"auth": {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": "x"}})
    with pytest.raises(InputError, match=r"may not contain '_'"):
        auth_providers({"auth": {**{k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}, "my_idp": {
            k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}}})  # fmt: skip
    assert auth_providers({}) == ()


# --- permissions -------------------------------------------------------------------------------

MATRIX = {
    "admin": {"view", "run", "edit", "delete_any", "admin"},
    "member": {"view", "run", "edit"},
    "viewer": {"view"},
    None: set(),
}


@pytest.mark.parametrize("role", list(MATRIX))
@pytest.mark.parametrize("action", ACTIONS)
def test_permission_matrix(role, action):
    assert can(role, action) is (action in MATRIX[role])
    assert AccessPolicy().can(role, action) is (action in MATRIX[role])


def test_unknown_action_or_role():
    with pytest.raises(ValueError, match="unknown action"):
        can("admin", "launch")
    assert not can("owner", "view")


def test_members_change_their_own_things_admins_anything_viewers_nothing():
    p = policy({"admins": ["root@example.com"], "members": ["@example.com"], "viewers": ["v@example.com"]})
    member, admin, viewer = p.user("dev@example.com"), p.user("root@example.com"), p.user("v@example.com")
    assert member.id == "dev@example.com" and member.label == "dev@example.com"
    assert member.may_change("dev@example.com")
    assert not member.may_change("other@example.com")
    assert not member.may_change(None)  # shared examples are not anybody's
    assert admin.may_change("other@example.com") and admin.may_change(None)
    assert not viewer.may_change("v@example.com")
    assert not p.user("mallory@evil.com").can("view")


def test_normalize_email():
    assert normalize_email(" Alice@Example.com ") == "alice@example.com"
    assert normalize_email("@example.com") is None
    assert normalize_email("alice@") is None
    assert normalize_email(None) is None


# --- which key pays ----------------------------------------------------------------------------


def test_key_kind():
    assert key_kind(Secret("sk-server-key-123456"), None) == "server"
    assert key_kind(Secret("sk-server-key-123456"), "sk-own-key-abcdefgh") == "user"
    assert key_kind(Secret(None), "sk-own-key-abcdefgh") == "user"
    assert key_kind(Secret(None)) == "none"
    assert key_kind("sk-plain-string-key") == "server"
    assert key_kind(None, "") == "none"


def test_paying_settings_uses_the_session_key_without_showing_it():
    server = Settings(api_key=Secret("sk-server-key-123456"))
    same, kind = paying_settings(server, None)
    assert same is server and kind == "server"
    own, kind = paying_settings(server, "sk-own-key-abcdefgh")
    assert kind == "user" and own.api_key.get() == "sk-own-key-abcdefgh"
    assert "sk-own-key" not in repr(own) and "sk-own-key" not in str(own)
    assert server.api_key.get() == "sk-server-key-123456"  # the server's settings are untouched
    assert paying_settings(Settings(), None)[1] == "none"


# --- secrets files -----------------------------------------------------------------------------


def test_load_secrets_file_merges_later_files_over_earlier_ones(tmp_path):
    home = tmp_path / "home.toml"
    project = tmp_path / "project.toml"
    home.write_text('OPENAI_BASE_URL = "http://a"\n[workbench.access]\nadmins = ["a@x.com"]\nmembers = ["@x.com"]\n')
    project.write_text('[workbench.access]\nadmins = ["b@x.com"]\n')
    merged = load_secrets_file([home, project, tmp_path / "missing.toml"])
    assert merged["OPENAI_BASE_URL"] == "http://a"
    assert merged["workbench"]["access"] == {"admins": ["b@x.com"], "members": ["@x.com"]}


def test_broken_secrets_file_is_a_one_line_error(tmp_path):
    broken = tmp_path / "secrets.toml"
    broken.write_text("[auth\nclient_id = 1\n")
    with pytest.raises(InputError, match=r"secrets\.toml: broken TOML") as info:
        load_secrets_file([broken])
    assert "\n" not in str(info.value)


def test_the_shipped_example_configures_sign_in_roles_and_budgets():
    from workbench.budgets import Budgets

    secrets = load_secrets_file([ROOT / ".streamlit" / "secrets.toml.example"])
    p = AccessPolicy.from_config(secrets, {})
    assert p.auth_enabled and p.hosted and p.providers == ("default",)
    assert "/.well-known/openid-configuration" in secrets["auth"]["server_metadata_url"]
    assert p.role_for("alice@example.com") == "admin"
    assert p.role_for("bob@example.com") == "member"
    assert p.role_for("auditor@partner.example.org") == "viewer"
    assert p.role_for("bob@elsewhere.com") is None
    assert secrets["WORKBENCH_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert Budgets.from_config(secrets, {}) == Budgets(2.0, 10.0, 200.0)
