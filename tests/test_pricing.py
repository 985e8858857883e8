"""The price catalog and the one cost function."""

from __future__ import annotations

from decimal import Decimal

import pytest

from workbench import formatting as fmt
from workbench.errors import InputError
from workbench.pricing import Catalog, cost, usd


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


@pytest.mark.parametrize(
    ("model", "prices"),
    [
        ("gpt-6-luna", ("0.10", "0.01", "0.125", "0.50")),
        ("gpt-6-sol", ("2", "0.20", "2.50", "10")),
        ("gpt-6-astra", ("10", "1", "12.50", "50")),
        ("gpt-5-nano", ("0.05", "0.005", "0.05", "0.40")),  # no cache-write price: the input price
        ("gpt-5-mini", ("0.25", "0.025", "0.25", "2")),
    ],
)
def test_todays_prices(catalog, model, prices):
    info = catalog.lookup(model)
    write = info.cache_write if info.cache_write is not None else info.input
    assert (info.input, info.cached_input, write, info.output) == tuple(Decimal(p) for p in prices)
    assert info.as_of and info.source.startswith("https://")


def test_what_each_model_accepts(catalog):
    luna, sol, astra = (catalog.lookup(m) for m in ("gpt-6-luna", "gpt-6-sol", "gpt-6-astra"))
    for six in (luna, sol):
        assert six.efforts == ("none", "low", "medium", "high", "xhigh", "max")
        assert six.default_effort == "medium"
        assert six.takes_temperature("none") and six.takes_logprobs("none")
        assert not six.takes_temperature("low") and not six.takes_logprobs("low")
        assert not six.takes_temperature(None)  # the default effort is medium
        assert six.max_tokens_param == "max_completion_tokens" and six.verbosity
    assert "none" not in astra.efforts and not astra.takes_temperature("low")
    mini = catalog.lookup("gpt-5-mini")
    assert mini.efforts == ("minimal", "low", "medium", "high") and mini.default_effort == "medium"
    assert not any(mini.takes_temperature(e) for e in (None, *mini.efforts))
    assert mini.max_tokens_param == "max_completion_tokens" and mini.verbosity
    old = catalog.lookup("gpt-4.1-mini")
    assert not old.reasoning and old.takes_temperature() and old.takes_logprobs()
    assert old.max_tokens_param == "max_tokens" and not old.verbosity


def test_lifecycle(catalog):
    from datetime import date

    today = date(2026, 12, 2)
    nano = catalog.lookup("gpt-4.1-nano")
    assert nano.shutdown == "2026-10-23" and nano.retired(today) and nano.replacement
    for name in ("gpt-5", "gpt-5-mini", "gpt-5-nano"):
        info = catalog.lookup(name)
        assert info.shutdown == "2026-12-11" and not info.retired(today) and info.retiring(today)
        assert info.replacement and info.lifecycle_source.startswith("https://")
    for name in ("gpt-4.1-mini", "gpt-4o-mini"):
        info = catalog.lookup(name)
        assert info.shutdown == "2027-01-14" and info.retiring(today)  # 43 days
        assert info.replacement == "gpt-6-luna"
        assert not info.retiring(date(2026, 11, 14))  # 61 days before
    assert catalog.lookup("gpt-6-luna").shutdown is None
    assert catalog.lookup("gpt-4.1-nano-2025-04-14").retired(today)  # snapshots share their family's date


def test_default_pair_is_data_and_skips_retiring_models(catalog, tmp_path):
    from datetime import date

    assert catalog.default_pair(date(2026, 12, 2)) == ["gpt-6-luna", "gpt-6-sol"]
    path = tmp_path / "prices.yaml"
    path.write_text(
        "default_models: [old-cheap, gpt-6-luna, gpt-6-sol]\n"
        "models:\n  old-cheap: {input: 0.01, output: 0.02, shutdown: '2026-12-20'}\n"
    )
    mine = Catalog.load(path)
    assert mine.default_pair(date(2026, 12, 2)) == ["gpt-6-luna", "gpt-6-sol"]  # 18 days left: skipped
    assert mine.default_pair(date(2026, 9, 1)) == ["old-cheap", "gpt-6-luna"]


def test_snapshot_ids_resolve_to_their_family(catalog):
    assert catalog.lookup("gpt-4.1-nano-2025-04-14").name == "gpt-4.1-nano"
    assert catalog.lookup("gpt-4o-2024-08-06").name == "gpt-4o"
    assert catalog.lookup("gpt-4.1-mini-2025-04-14").name == "gpt-4.1-mini"


def test_unknown_model_costs_none_never_zero(catalog):
    assert catalog.lookup("my-local-llama") is None
    assert catalog.lookup("gpt-4.1-nano-preview") is None
    assert cost(None, 1000, 0, 10) is None
    assert usd(None) is None
    assert fmt.money(None) == "unknown"


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


def test_cost_with_reasoning_cache_writes_long_context_and_delivery(catalog):
    from workbench.pricing import delivery_factor

    luna = catalog.lookup("gpt-6-luna")
    # 1,000 prompt tokens: 300 read from the cache, 200 written to it, 500 fresh; 120 completion
    # tokens of which 100 were reasoning (billed as output, already inside completion_tokens).
    expected = (
        Decimal(500) * Decimal("0.10")
        + Decimal(300) * Decimal("0.01")
        + Decimal(200) * Decimal("0.125")
        + Decimal(120) * Decimal("0.50")
    ) / Decimal(1_000_000)
    assert cost(luna, 1000, 300, 120, cache_write_tokens=200) == expected == Decimal("0.000138")
    # without a reported cache write the 200 tokens are fresh input
    assert cost(luna, 1000, 300, 120) == Decimal("0.000133")
    # long context: more than 272,000 input tokens -> input, cached and cache writes 2x, output 1.5x
    sol = catalog.lookup("gpt-6-sol")
    at = cost(sol, 272_000, 0, 1000)
    above = cost(sol, 272_001, 1, 1000, cache_write_tokens=10)
    assert at == (Decimal(272_000) * 2 + Decimal(1000) * 10) / Decimal(1_000_000)
    assert above == (
        (Decimal(271_990) * 2 + Decimal(1) * Decimal("0.20") + Decimal(10) * Decimal("2.50")) * 2
        + Decimal(1000) * 10 * Decimal("1.5")
    ) / Decimal(1_000_000)
    # the delivery tier: batch and flex at half price, standard at full
    assert delivery_factor(sol, "batch") == delivery_factor(sol, "flex") == Decimal("0.5")
    assert delivery_factor(sol, "standard") == 1
    assert cost(sol, 1000, 0, 100, tier_factor=delivery_factor(sol, "flex")) == cost(sol, 1000, 0, 100) / 2
    assert delivery_factor(catalog.lookup("gpt-4.1-mini"), "flex") is None  # Flex not offered
    assert delivery_factor(None, "batch") is None
    with pytest.raises(InputError, match="delivery mode"):
        delivery_factor(sol, "express")
    # a model without a long-context tier never multiplies
    mini = catalog.lookup("gpt-4.1-mini")
    assert cost(mini, 500_000, 0, 0) == Decimal("0.20")


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
    bad.write_text("models:\n  x: {input: 1, output: 1, temperature: sometimes}\n")
    with pytest.raises(InputError, match="temperature must be one of"):
        Catalog.load(bad)
    bad.write_text("models:\n  x: {input: 1, output: 1, reasoning: {efforts: [low], default: high}}\n")
    with pytest.raises(InputError, match="model 'x'"):
        Catalog.load(bad)
