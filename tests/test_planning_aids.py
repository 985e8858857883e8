"""Before a sweep: the sample set that fits a prompt, and the duration estimate from measured latencies."""

from __future__ import annotations

import pytest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from workbench.config import Settings
from workbench.datasets import parse_samples
from workbench.planning_aids import estimate_duration
from workbench.promptfile import parse_prompt
from workbench.service import Workbench
from workbench.storage import repository as repo
from workbench.storage.history import fitting_dataset, typical_latency_ms


def test_the_newest_sample_set_that_fits_the_prompt_is_chosen(settings: Settings) -> None:
    wb = Workbench.open(settings)
    prompt = parse_prompt(PROMPT_YAML)  # uses {{text}}; labels positive, negative, neutral
    fits = repo.save_dataset(wb.engine, parse_samples(SAMPLES_CSV.encode(), "reviews.csv")).id
    other_labels = repo.save_dataset(wb.engine, parse_samples(b"text,label\na,spam\nb,ham\n", "spam.csv")).id
    no_text = repo.save_dataset(wb.engine, parse_samples(b"body,label\na,positive\n", "tickets.csv")).id
    assert no_text > other_labels > fits  # the newest set lacks {{text}}, the next has other labels
    assert fitting_dataset(wb.engine, prompt) == fits
    assert fitting_dataset(wb.engine, prompt, [other_labels, no_text]) == other_labels  # has the variable, at least
    assert fitting_dataset(wb.engine, prompt, [no_text]) is None


def test_the_duration_comes_from_measured_latencies(settings: Settings, fake_server) -> None:
    fake_server.latency = 0.05
    wb = Workbench.open(settings)
    plan = wb.plan([parse_prompt(PROMPT_YAML)], parse_samples(SAMPLES_CSV.encode(), "s.csv"), ["gpt-4.1-nano"], [0.0])
    assert wb.execute(wb.start(plan), plan).status == "completed"
    measured = typical_latency_ms(wb.engine, ["gpt-4.1-nano", "gpt-4.1-mini"])
    assert set(measured) == {"gpt-4.1-nano"} and 50 <= measured["gpt-4.1-nano"] < 2000

    estimate = {
        "models": [
            {"model": "a", "calls": 100, "new_calls": 100},
            {"model": "b", "calls": 40, "new_calls": 0},
            {"model": "c", "calls": 10, "new_calls": 10},
        ]
    }
    duration = estimate_duration(estimate, {"a": 400.0, "b": 1.0}, concurrency=8)
    assert duration.seconds == pytest.approx(100 * 0.4 / 8) and duration.unknown == ("c",)
    assert "about 5 s" in duration.text() and "not counting c" in duration.text()
    local = estimate_duration(estimate, {"a": 400.0, "c": 1000.0}, concurrency=8, one_at_a_time=["c"])
    assert local.seconds == pytest.approx(10.0)  # 10 local calls one at a time outlast 100 shared by 8
    assert estimate_duration(estimate, {}, concurrency=8).seconds is None
