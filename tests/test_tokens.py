"""Offline token counting: the bundled o200k_base file, the cookbook chat rule, the cache."""

from __future__ import annotations

import hashlib
import inspect
import lzma
import os
import socket
from importlib import resources

import pytest

from workbench import tokens

COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


def test_cookbook_six_message_example_counts_124():
    assert tokens.count_chat(COOKBOOK_MESSAGES) == 124


def test_count_chat_many_matches_count_chat():
    batch = [COOKBOOK_MESSAGES, COOKBOOK_MESSAGES[:1], [{"role": "user", "content": ""}], COOKBOOK_MESSAGES[1:3]]
    assert tokens.count_chat_many(batch) == [tokens.count_chat(m) for m in batch]
    assert tokens.count_chat([{"role": "user", "content": ""}]) == 3 + 1 + 3  # role "user" is one token


def test_count_text_known_values():
    assert tokens.count_text("") == 0
    assert tokens.count_text("hello world") == 2
    # special-token text is counted as ordinary text, not refused
    assert tokens.count_text("<|endoftext|>") > 1


def test_bundled_file_matches_tiktokens_expected_hash():
    from tiktoken_ext import openai_public

    source = inspect.getsource(openai_public.o200k_base)
    assert tokens.ENCODING_SHA256 in source, "tiktoken's registry expects another o200k_base hash"
    assert tokens._expected_hash() == tokens.ENCODING_SHA256
    packed = resources.files("workbench.data").joinpath(tokens._BUNDLED).read_bytes()
    assert hashlib.sha256(lzma.decompress(packed)).hexdigest() == tokens.ENCODING_SHA256


def _fresh_encoding(monkeypatch: pytest.MonkeyPatch, cache_home) -> object:
    """Load the encoding from scratch with a private cache and no tiktoken memory of it."""
    import tiktoken.registry

    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    tokens.encoding.cache_clear()
    try:
        return tokens.encoding()
    finally:
        tokens.encoding.cache_clear()


def test_loads_without_network_and_restores_the_environment(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("the tokenizer tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    enc = _fresh_encoding(monkeypatch, tmp_path)
    assert enc.encode("hello world") == [24912, 2375]
    assert "TIKTOKEN_CACHE_DIR" not in os.environ
    cached = tmp_path / "workbench" / "tiktoken" / hashlib.sha1(tokens.ENCODING_URL.encode()).hexdigest()
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == tokens.ENCODING_SHA256


def test_corrupted_cached_copy_is_replaced_and_the_users_setting_kept(monkeypatch, tmp_path):
    import tiktoken.registry

    cached = tmp_path / "workbench" / "tiktoken" / hashlib.sha1(tokens.ENCODING_URL.encode()).hexdigest()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a bpe file\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/somewhere/of/the/users")
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    tokens.encoding.cache_clear()
    try:
        enc = tokens.encoding()
    finally:
        tokens.encoding.cache_clear()
    assert enc.encode("hello world") == [24912, 2375]
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == tokens.ENCODING_SHA256
    assert os.environ["TIKTOKEN_CACHE_DIR"] == "/somewhere/of/the/users"


def test_bundled_file_that_does_not_match_the_hash_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="corrupt"):
        tokens._install_bundled_file(tmp_path, "0" * 64)
