"""A hostile model server and a database that stops taking answers: the sweep never pays for what it cannot store.

Each hostile answer (tests/support/fake_hostile.py) is refused at the provider edge as malformed:
retried, then recorded as the item's error, never stored and never a dead worker. When the
database refuses answers (a full disk, simulated by SQLite's ``max_page_count``), the workers stop
paying at once and the run says so in one line.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select
from sqlmodel import Session

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from workbench import runner as runner_module
from workbench.datasets import parse_csv
from workbench.promptfile import parse_prompt
from workbench.service import Workbench
from workbench.storage import make_engine
from workbench.storage.models import Response, RunItem

PROMPT = parse_prompt(PROMPT_YAML, "sentiment.yaml")
SAMPLES = parse_csv(SAMPLES_CSV.encode(), "samples.csv")
REFUSED = ["model_object", "huge_usage", "negative_usage", "nan_usage", "infinite_usage", "dict_finish"]


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "BACKOFF_BASE_S", 0.01)


def _stored(wb: Workbench) -> list[Response]:
    with Session(wb.engine) as session:
        return list(session.execute(select(Response)).scalars())


def _item_errors(wb: Workbench, run_id: int) -> list[str | None]:
    with Session(wb.engine) as session:
        return list(session.execute(select(RunItem.error).where(RunItem.run_id == run_id)).scalars())


@pytest.mark.parametrize("fault", REFUSED)
def test_a_hostile_answer_is_refused_retried_and_recorded_never_stored(wb, fake_server, fault: str) -> None:
    fake_server.faults.extend([fault] * 100)
    wb = Workbench(dataclasses.replace(wb.settings, max_attempts=2), wb.engine, wb.catalog)
    plan = wb.plan([PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1)
    outcome = wb.execute(wb.start(plan), plan, concurrency=3)
    assert fake_server.calls == 2 * len(SAMPLES)  # each call tried max_attempts times, then given up
    assert outcome.status == "stopped" and outcome.errors == len(SAMPLES)
    assert _stored(wb) == []
    errors = _item_errors(wb, outcome.run_id)
    assert all(e and "malformed response" in e and "gave up after 2 tries" in e for e in errors), errors
    assert "\n" not in (outcome.error or "")


def test_a_nul_byte_in_an_answer_is_stored_as_a_replacement_character(wb, fake_server) -> None:
    fake_server.faults.extend(["nul_answer"] * len(SAMPLES))
    plan = wb.plan([PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1)
    outcome = wb.execute(wb.start(plan), plan, concurrency=2)
    assert outcome.status == "completed"
    outputs = [r.output for r in _stored(wb)]
    assert len(outputs) == len(SAMPLES) and all(o == "positive\ufffd" for o in outputs)


def test_once_the_database_refuses_answers_the_sweep_stops_paying(wb, fake_server, db_url: str) -> None:
    """A full disk mid-sweep: at most one answer per worker is paid and not stored; one line says so.

    The disk fills after 20 answers: from then on each connection's database may not grow
    (SQLite's ``max_page_count`` at its current size), so writes fail with SQLITE_FULL.
    """
    samples = parse_csv(("text,label\n" + "".join(f"s{i:03d} fine,positive\n" for i in range(300))).encode(), "s.csv")
    plan = wb.plan([PROMPT], samples, ["gpt-4.1-nano"], [0.0], 1)
    run = wb.start(plan)
    full = make_engine(db_url)
    disk = {"full": False}

    @event.listens_for(full, "checkout")
    def _no_more_room(dbapi_connection, _record, _proxy) -> None:
        if disk["full"]:
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    def progress(p) -> None:
        disk["full"] = disk["full"] or p.new_calls >= 20

    concurrency = 4
    outcome = Workbench(wb.settings, full, wb.catalog).execute(run, plan, concurrency=concurrency, on_progress=progress)
    answered = fake_server.completed
    with Session(wb.engine) as session:
        stored = session.execute(select(func.count(Response.id))).scalar()
    assert 20 <= answered < len(samples), "the sweep kept paying after the database was full"
    assert answered - stored <= concurrency  # at most the answers in flight when it filled up
    assert outcome.status == "failed"
    assert outcome.error and "could not store answers in the database" in outcome.error and "full" in outcome.error
    assert "\n" not in outcome.error and "Traceback" not in outcome.error
    if answered > stored:
        assert f"{answered - stored} paid answer(s) could not be stored" in outcome.error


def test_a_server_dripping_bytes_is_cut_off_at_the_whole_call_timeout(fake_server, settings) -> None:
    """WORKBENCH_TIMEOUT bounds the call, not each read: one byte per 0.5 s never trips a per-read timeout."""
    import time

    from workbench.errors import TransientError
    from workbench.providers.openai_compat import OpenAIProvider

    provider = OpenAIProvider(dataclasses.replace(settings, timeout=2.0))
    body = {"model": "gpt-4.1-nano", "messages": [{"role": "user", "content": "hi"}]}
    fake_server.faults.append("drip")  # the whole answer would take minutes to arrive
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        provider.complete(body)
    assert time.monotonic() - started < 30  # cut near 2 s; without the deadline this takes minutes
    assert provider.complete(body).text  # the next call is answered normally


# --- paid, refused, charged (issue 12 item 6: "a malformed 200 retried N times is billed each time") ----------


def _charges(wb: Workbench) -> list[tuple[int | None, float | None, bool, int | None]]:
    from workbench.storage.models import RefusedCharge

    with Session(wb.engine) as session:
        rows = session.execute(select(RefusedCharge)).scalars()
        return [(r.run_id, r.cost_usd, r.estimated, r.prompt_tokens) for r in rows]


@pytest.mark.parametrize(("fault", "estimated"), [("model_object", False), ("huge_usage", True)])
def test_each_paid_malformed_answer_is_charged_to_the_run_and_the_budgets(
    wb, fake_server, fault: str, estimated: bool
) -> None:
    from decimal import Decimal

    from workbench import budgets

    attempts = 3
    fake_server.faults.extend([fault] * (attempts * len(SAMPLES)))
    wb = Workbench(dataclasses.replace(wb.settings, max_attempts=attempts), wb.engine, wb.catalog)
    plan = wb.plan([PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1)
    outcome = wb.execute(wb.start(plan), plan, concurrency=2)
    assert fake_server.calls == attempts * len(SAMPLES) and _stored(wb) == []
    charged = _charges(wb)
    assert len(charged) == attempts * len(SAMPLES) == outcome.refused_paid  # N attempts, N charges
    assert all(run == outcome.run_id and usd and usd > 0 and est is estimated for run, usd, est, _ in charged)
    total = sum(Decimal(repr(usd)) for _, usd, _, _ in charged if usd is not None)
    if not estimated:  # priced from the usage the server reported with each refused answer
        billed = [usage for _, usage, _ in fake_server.billed()]
        assert sorted(tokens for *_, tokens in charged) == sorted(u["prompt_tokens"] for u in billed)
    # The run's spend, the person's day and the team's month all count them.
    money = wb.summary(outcome.run_id)
    assert money["spent_usd"] == pytest.approx(float(total), rel=1e-9)
    assert budgets.spent_by_user(wb.engine, None).usd == pytest.approx(float(total))
    assert budgets.spent_by_team(wb.engine).calls == attempts * len(SAMPLES)


def test_paid_malformed_answers_count_against_max_cost(wb, fake_server) -> None:
    """--max-cost stops a sweep whose every answer is refused: the refused attempts were paid."""
    fake_server.faults.extend(["model_object"] * 1000)
    wb = Workbench(dataclasses.replace(wb.settings, max_attempts=8), wb.engine, wb.catalog)
    plan = wb.plan([PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1)
    outcome = wb.execute(wb.start(plan), plan, concurrency=1, max_cost_usd=0.00005)
    assert outcome.status == "stopped" and "budget" in (outcome.error or "")
    assert fake_server.calls < 8 * len(SAMPLES)  # stopped by the money, not by running out of attempts


def test_a_live_runs_hold_on_the_budgets_shrinks_by_its_paid_refusals(wb) -> None:
    """What a live run holds is its reservation less what it paid since, refused answers included."""
    from datetime import timedelta

    from workbench.storage import charges
    from workbench.storage import repository as repo
    from workbench.storage.models import Run, utcnow

    with Session(wb.engine) as session:
        dataset = repo.save_dataset(wb.engine, SAMPLES)
        since = utcnow() - timedelta(seconds=1)
        run = Run(plan_hash="p", plan_json="{}", dataset_id=dataset.id, base_url="http://x", models_json="[]",
                  temperatures_json="[]", status="pending", reserved_usd=0.01, reserved_at=since,
                  created_by="ann", key_kind="server")  # fmt: skip
        session.add(run)
        session.commit()
        run_id = run.id
    assert repo.live_reservations(wb.engine) == [("ann", "server", pytest.approx(0.01))]
    charges.record(wb.engine, run_id=run_id, request_key="k", model="gpt-4.1-nano", base_url="http://x", reason="",
                   usage=(10, 0, 1), cost_usd=Decimal("0.004"), estimated=False, paid_by="ann",
                   key_kind="server")  # fmt: skip
    assert repo.live_reservations(wb.engine) == [("ann", "server", pytest.approx(0.006))]
