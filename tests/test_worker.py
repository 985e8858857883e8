"""The app's background sweeps run in worker processes: progress and outcome reach the app, the key stays off
the command line, a worker that cannot run says why, and a worker whose server is gone stops resumable."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from tests.support.resilience import marker_answers, wait_until, write_inputs
from workbench.datasets import load_samples
from workbench.jobs import JobManager
from workbench.promptfile import parse_prompt
from workbench.service import Workbench
from workbench.storage import repository as repo
from workbench.worker import PARENT_GONE

ROOT = Path(__file__).resolve().parents[1]


def planned(wb: Workbench, tmp_path: Path, n: int):
    prompt, data = write_inputs(tmp_path, n)
    plan = wb.plan([parse_prompt(prompt.read_text(), "sentiment.yaml")], load_samples(data), ["gpt-4.1-mini"], [0.0])
    return plan, wb.start(plan)


def test_a_background_sweep_runs_in_a_worker_process_and_reports_back(wb, fake_server, tmp_path):
    fake_server.responder = marker_answers
    fake_server.latency = 0.02
    plan, run = planned(wb, tmp_path, 40)
    job = JobManager(wb).submit(run, plan, concurrency=4)
    seen = []
    while job.thread.is_alive():
        if job.progress is not None:
            seen.append(job.progress.done)
        job.thread.join(0.05)
    assert job.process is not None and job.process.pid != os.getpid()
    assert wb.settings.api_key.get() not in " ".join(job.process.args)  # the key only in its environment
    assert job.error is None and job.outcome is not None
    assert (job.outcome.status, job.outcome.new_calls, job.outcome.errors) == ("completed", 40, 0)
    assert job.outcome.spent_usd is not None and job.outcome.spent_usd > 0
    assert seen and max(seen) <= 40  # progress came from the worker while it ran
    assert repo.get_run(wb.engine, run.id).status == "completed"
    assert fake_server.completed == 40


def test_a_worker_runs_in_a_session_of_its_own_and_a_ctrl_c_of_the_server_does_not_reach_it(wb, fake_server, tmp_path):
    """Its own session: its own share of the CPU beside page reruns (Linux autogroup), and a Ctrl-C in the
    server's terminal (SIGINT to the foreground process group) reaches only the server."""
    fake_server.responder = marker_answers
    fake_server.latency = 0.05
    plan, run = planned(wb, tmp_path, 60)
    job = JobManager(wb).submit(run, plan, concurrency=2)
    wait_until(lambda: job.process is not None and job.progress is not None, what="the worker's first progress")
    assert job.process is not None
    worker = job.process.pid
    assert os.getsid(worker) == worker != os.getsid(0)
    assert os.getpgid(worker) != os.getpgid(0)
    job.thread.join(60)
    assert job.outcome is not None and job.outcome.status == "completed"


def test_a_worker_that_cannot_run_its_sweep_says_why(wb, fake_server, tmp_path):
    plan, run = planned(wb, tmp_path, 3)
    elsewhere = Workbench(replace(wb.settings, base_url="http://127.0.0.1:9/v1"), wb.engine, wb.catalog)
    job = JobManager(wb).submit(run, plan, workbench=elsewhere)
    job.thread.join(60)
    assert job.outcome is None
    assert job.error is not None and "OPENAI_BASE_URL" in job.error and not job.error.startswith("error:")
    stored = repo.get_run(wb.engine, run.id)
    assert (stored.status, stored.error) == ("failed", job.error)
    assert fake_server.completed == 0


def test_a_worker_whose_server_is_gone_stops_and_leaves_its_run_resumable(settings, wb, fake_server, tmp_path):
    fake_server.responder = marker_answers
    fake_server.latency = 0.05
    _, run = planned(wb, tmp_path, 200)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "WORKBENCH_"))}
    worker = subprocess.Popen(
        [sys.executable, "-m", "workbench.worker", str(run.id), "--concurrency", "2"],
        cwd=ROOT,
        env={**env, **settings.to_env()},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: repo.run_progress(wb.engine, run.id)["answered"] >= 5, what="some answers")
    worker.stdin.close()  # what a dying server leaves its worker with
    worker.wait(60)
    out, err = worker.stdout.read(), worker.stderr.read()
    assert worker.returncode == 1, err
    stored = repo.get_run(wb.engine, run.id)
    assert (stored.status, stored.error) == ("interrupted", PARENT_GONE)
    answered = repo.run_progress(wb.engine, run.id)["answered"]
    assert 5 <= answered < 200 and answered == fake_server.completed  # every paid answer kept
    assert '"outcome"' in out.splitlines()[-1]
