"""The baseline the sweep is measured against: a bare thread pool over the openai SDK that stores nothing.

    python -m benchmarks.bare_client PROMPT.yaml SAMPLES.csv --models a,b --temperatures 0,0.7 --repeats 1

The same calls a sweep of these arguments makes (the prompt's messages with each row's columns filled
in, its params, every model x temperature x repeat), sent with ``client.chat.completions.create`` from
``--concurrency`` threads. It needs only PyYAML and openai, so its start-up is what a hand-written
script's would be. Prints the number of answers.
"""

from __future__ import annotations

import argparse
import csv
import os
from concurrent.futures import ThreadPoolExecutor

import openai
import yaml


def fill(text: str, row: dict[str, str]) -> str:
    for name, value in row.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("prompt")
    parser.add_argument("samples")
    parser.add_argument("--models", required=True)
    parser.add_argument("--temperatures", default="0")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    with open(args.prompt, encoding="utf-8") as handle:
        prompt = yaml.safe_load(handle)
    with open(args.samples, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    bodies = [
        {
            "model": model,
            "temperature": float(temperature),
            "messages": [{"role": m["role"], "content": fill(m["content"], row)} for m in prompt["messages"]],
            **prompt.get("params", {}),
        }
        for model in args.models.split(",")
        for temperature in args.temperatures.split(",")
        for row in rows
        for _ in range(args.repeats)
    ]
    client = openai.OpenAI(api_key=os.environ["OPENAI_API_KEY"], base_url=os.environ["OPENAI_BASE_URL"])
    with ThreadPoolExecutor(args.concurrency) as pool:
        answers = list(pool.map(lambda body: client.chat.completions.create(**body).choices[0].message.content, bodies))
    print(len(answers))


if __name__ == "__main__":
    main()
