"""Two versions of one prompt in one run are told apart wherever a cell is named (issue 15)."""

from __future__ import annotations

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from workbench import charts
from workbench.datasets import parse_csv
from workbench.metrics import build_report, cell_name, disagreements, per_sample
from workbench.promptfile import parse_prompt
from workbench.reporting import format_report
from workbench.storage import repository as repo
from workbench.storage.results import results_frame


def test_two_versions_of_one_prompt_have_two_names(wb, fake_server):
    v1 = parse_prompt(PROMPT_YAML, "sentiment.yaml")
    v2 = parse_prompt(PROMPT_YAML.replace("Answer with the label only.", "Answer with one word."), "sentiment.yaml")
    assert v1.name == v2.name and v1.content_hash != v2.content_hash
    repo.save_prompt_version(wb.engine, v1)
    repo.save_prompt_version(wb.engine, v2, note="one-word answers, a note long enough to be cut short here")
    samples = parse_csv(SAMPLES_CSV.encode(), "samples.csv")
    plan = wb.plan([v1, v2], samples, ["gpt-4.1-nano"], [0.0])
    run = wb.start(plan)
    assert wb.execute(run, plan).status == "completed"

    frame, labels = results_frame(wb.engine, run.id)
    names = sorted(frame["prompt_label"].unique())
    assert names[0] == f"{v1.name} v1"
    assert names[1].startswith(f"{v2.name} v2 · one-word answers") and names[1].endswith("…")
    report = build_report(frame, labels, run.id)
    cells = [cell_name(c, True) for c in report["cells"]]
    assert len(set(cells)) == 2 and cells[0].startswith(f"{v1.name} v1 · ")
    assert {c["prompt_label"] for c in report["cells"]} == set(names)
    rec = report["recommendation"]
    assert rec["prompt_label"] in names and rec["prompt_label"] in rec["summary"]
    text = format_report(report)
    assert f"{v1.name} v1 · gpt-4.1-nano @ 0" in text and f"{v2.name} v2 · " in text
    assert set(per_sample(frame)["prompt_label"]) == set(names)
    table = disagreements(frame)
    assert len([c for c in table.columns if "gpt-4.1-nano" in c]) == 2
    legend = {row["cell"] for row in charts.cost_vs_accuracy(report).to_dict()["datasets"].popitem()[1]}
    assert legend == set(cells)
