"""The price catalog and the one cost function."""

from __future__ import annotations

from decimal import Decimal

import pytest

from workbench.errors import InputError
from workbench.pricing import Catalog, cost, format_usd, usd


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.mark.parametrize(
    ("model", "prices"),
    [
        ("gpt-4.1-nano", ("0.10", "0.025", "0.40")),
        ("gpt-4.1-mini", ("0.40", "0.10", "1.60")),
    ],
)
def test_required_prices(catalog, model, prices):
    info = catalog.lookup(model)
    assert (info.input, info.cached_input, info.output) == tuple(Decimal(p) for p in prices)
    assert info.temperature and info.logprobs
    assert info.as_of and info.source.startswith("https://")


def test_required_models_are_listed_and_reasoning_models_take_no_temperature(catalog):
    for name in ("gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini", "gpt-4o", "gpt-5-nano", "gpt-5-mini"):
        assert catalog.lookup(name) is not None, name
    for name in ("gpt-5-nano", "gpt-5-mini"):
        assert not catalog.lookup(name).temperature
        assert not catalog.lookup(name).logprobs


def test_snapshot_ids_resolve_to_their_family(catalog):
    assert catalog.lookup("gpt-4.1-nano-2025-04-14").name == "gpt-4.1-nano"
    assert catalog.lookup("gpt-4o-2024-08-06").name == "gpt-4o"
    assert catalog.lookup("gpt-4.1-mini-2025-04-14").name == "gpt-4.1-mini"


def test_unknown_model_costs_none_never_zero(catalog):
    assert catalog.lookup("my-local-llama") is None
    assert catalog.lookup("gpt-4.1-nano-preview") is None
    assert cost(None, 1000, 0, 10) is None
    assert usd(None) is None
    assert format_usd(None) == "unknown"


def test_cost_is_exact_and_cached_tokens_use_the_cached_rate(catalog):
    nano = catalog.lookup("gpt-4.1-nano")
    # 1000 prompt tokens of which 400 cached, 50 completion tokens
    expected = (Decimal(600) * Decimal("0.10") + Decimal(400) * Decimal("0.025") + Decimal(50) * Decimal("0.40")) / (
        Decimal(1_000_000)
    )
    assert cost(nano, 1000, 400, 50) == expected == Decimal("0.00009")
    mini = catalog.lookup("gpt-4.1-mini")
    assert cost(mini, 1_000_000, 0, 1_000_000) == Decimal("2.00")
    assert cost(mini, 1_000_000, 1_000_000, 0) == Decimal("0.10")
    assert cost(mini, 100, 0, 0) * 3 == cost(mini, 300, 0, 0)  # Decimal sums stay exact
    assert cost(nano, 1000, 0, 0, batch=True) == Decimal("0.00005")


def test_catalog_override_file(tmp_path, monkeypatch):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "version: mine\nmodels:\n"
        "  gpt-4.1-nano: {input: 1.0, cached_input: 0.5, output: 2.0}\n"
        "  my-local-llama: {input: 0, output: 0}\n"
    )
    catalog = Catalog.load(path)
    assert catalog.version == "mine"
    assert catalog.lookup("gpt-4.1-nano").input == Decimal("1.0")
    assert catalog.lookup("my-local-llama").cached_input == Decimal(0)
    assert cost(catalog.lookup("my-local-llama"), 100, 0, 10) == 0
    assert catalog.lookup("gpt-4.1-mini").input == Decimal("0.40")  # untouched entries stay


def test_catalog_override_through_settings(tmp_path):
    from workbench.config import Settings
    from workbench.service import Workbench

    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  house-model: {input: 3, output: 4}\n")
    settings = Settings.from_env(
        {"WORKBENCH_CATALOG": str(path), "WORKBENCH_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    )
    bench = Workbench.open(settings)
    assert bench.catalog.lookup("house-model").output == Decimal(4)


def test_bad_override_files(tmp_path):
    with pytest.raises(InputError, match="no such catalog file"):
        Catalog.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [\n")
    with pytest.raises(InputError, match="broken YAML"):
        Catalog.load(bad)
    bad.write_text("models:\n  x: {output: 1}\n")
    with pytest.raises(InputError, match="model 'x'"):
        Catalog.load(bad)


def test_format_usd():
    assert format_usd(0) == "$0"
    assert format_usd(Decimal("0.00009")) == "$0.00009"
    assert format_usd(12.5) == "$12.5000"
