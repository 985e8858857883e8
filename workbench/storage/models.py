"""SQLModel tables.

Facts are kept, opinions derived. A :class:`Response` is a fact: the exact request body (never the
API key), the answer, billed usage, cost at the catalog's version, latency. A :class:`Run` is a plan
and its :class:`RunItem` rows point at responses. Accuracy and cost per 1,000 are computed when read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class PromptVersion(SQLModel, table=True):
    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("name", "content_hash", name="uq_prompt_name_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    content_hash: str = Field(index=True)
    yaml: str = Field(sa_column=Column(Text, nullable=False))
    note: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str | None = None


class Dataset(SQLModel, table=True):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("content_hash", name="uq_dataset_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str
    content_hash: str = Field(index=True)
    label_column: str
    columns_json: str
    n_rows: int
    source: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str | None = None


class Sample(SQLModel, table=True):
    __tablename__ = "samples"
    __table_args__ = (UniqueConstraint("dataset_id", "idx", name="uq_sample_idx"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="datasets.id", index=True)
    idx: int
    row: int = 0
    label: str
    variables_json: str = Field(sa_column=Column(Text, nullable=False))


class Run(SQLModel, table=True):
    __tablename__ = "runs"

    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    status: str = Field(default="pending", index=True)  # pending running completed failed stopped cancelled
    error: str | None = None
    plan_hash: str = Field(index=True)
    plan_json: str = Field(sa_column=Column(Text, nullable=False))
    dataset_id: int = Field(foreign_key="datasets.id", index=True)
    base_url: str
    models_json: str
    temperatures_json: str
    repeats: int = 1
    concurrency: int = 8
    max_cost_usd: float | None = None
    total_items: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    worker: str | None = None  # host:pid of the process executing it
    created_by: str | None = None
    key_kind: str | None = None  # "server", "user" or "none": which key paid
    cancel_requested: bool = False  # set by any session or process; the executing runner stops
    reserved_usd: float | None = None  # what this run holds of the budgets while live (its estimate)
    reserved_at: datetime | None = None  # spend of this run since then comes out of the reservation
    delivery: str = "standard"  # standard | flex | batch (workbench/delivery.py); never part of a request key


class RunItem(SQLModel, table=True):
    __tablename__ = "run_items"
    __table_args__ = (Index("ix_run_items_run_cell", "run_id", "model", "temperature"),)  # + reasoning_effort

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    prompt_version_id: int = Field(foreign_key="prompt_versions.id")
    sample_idx: int
    model: str
    temperature: float | None = None
    reasoning_effort: str | None = None  # None: no effort sent (not a reasoning model, or its default)
    repeat: int = 0
    request_key: str = Field(index=True)
    response_id: int | None = Field(default=None, foreign_key="responses.id")
    reused: bool = False
    error: str | None = None
    attempts: int = 0


class Response(SQLModel, table=True):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("request_key", name="uq_response_key"),)

    id: int | None = Field(default=None, primary_key=True)
    request_key: str = Field(index=True)
    base_url: str
    model: str
    request_json: str = Field(sa_column=Column(Text, nullable=False))
    output: str | None = Field(default=None, sa_column=Column(Text))
    finish_reason: str | None = None
    response_model: str | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None  # part of completion_tokens, billed as output
    cache_write_tokens: int | None = None  # part of prompt_tokens, where the server reports them
    reasoning_effort: str | None = None  # as sent in the request body
    cost_usd: float | None = None
    price_version: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    logprobs_json: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    run_id: int | None = None  # the run that paid for it (None: a Try it call)
    paid_by: str | None = None  # who made the paying run or call (None: no sign-in); survives the run's deletion
    key_kind: str | None = None  # "server", "user" or "none": which key paid


class RefusedCharge(SQLModel, table=True):
    """A call the server answered (HTTP 200, so billed) with an answer refused as malformed.

    No answer is stored for it (it is retried), yet it was paid: its cost counts in the run's spend
    and in every budget. From the usage it reported when that could be read, else at the call's
    estimate (``estimated``); ``cost_usd`` None when the model's price is unknown.
    """

    __tablename__ = "refused_charges"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, index=True)  # no foreign key: the spend outlives the run
    request_key: str
    model: str
    base_url: str
    reason: str = ""
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    estimated: bool = False  # the usage could not be read: cost_usd is the call's estimate
    created_at: datetime = Field(default_factory=utcnow, index=True)
    paid_by: str | None = None
    key_kind: str | None = None


class BatchJob(SQLModel, table=True):
    """One Batch API batch of a run: recorded before its file is uploaded, so nothing sent is lost.

    ``keys_json`` lists the request keys (each line's ``custom_id``) in file order; a batch whose
    results are stored is ``collected``. See workbench/batch.py.
    """

    __tablename__ = "batch_jobs"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    model: str
    keys_json: str = Field(sa_column=Column(Text, nullable=False))
    lines: int = 0
    input_file_id: str | None = None
    batch_id: str | None = Field(default=None, index=True)
    status: str = "preparing"  # preparing, then the server's: validating ... completed, expired, cancelled, failed
    completed: int = 0  # request_counts as last polled
    failed: int = 0
    collected: bool = False  # results stored; nothing more to fetch
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class CallClaim(SQLModel, table=True):
    """A lease on a request key while one process calls it, so concurrent identical sweeps pay once."""

    __tablename__ = "call_claims"

    request_key: str = Field(primary_key=True)
    owner: str = Field(index=True)  # host:pid:token of the claiming runner
    expires_at: datetime


class TeamSetting(SQLModel, table=True):
    """An admin-set team setting (budgets, price table overrides) as text. Never a secret or an API key."""

    __tablename__ = "team_settings"

    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str | None = None
