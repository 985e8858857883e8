"""The real promptfoo CLI for tests: installed once from npm into a cache outside the repository.

The version is the one the export's header tells users to run (``PROMPTFOO_VERSION``), so the test
runs exactly what users are told to. The install (~700 packages) goes to
``$WORKBENCH_NPM_CACHE`` or ``~/.cache/workbench/npm/promptfoo-VERSION`` and is reused by later runs
and other checkouts; a lock file keeps two test processes from installing at once. Anything that
prevents it (no node or npm, a Node too old for that promptfoo, no registry) skips with the reason.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from workbench.export.promptfoo_yaml import PROMPTFOO_VERSION

NODE_NEEDED = ((20, 20), (22, 22))  # promptfoo 0.121.x: ^20.20.0 || >=22.22.0


def cache_dir() -> Path:
    root = os.environ.get("WORKBENCH_NPM_CACHE") or str(Path.home() / ".cache" / "workbench" / "npm")
    return Path(root) / f"promptfoo-{PROMPTFOO_VERSION}"


def _node_ok(node: str) -> str | None:
    """None when this node runs the pinned promptfoo, else why not."""
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"v(\d+)\.(\d+)", done.stdout.strip())
    if not match:
        return f"cannot read the node version ({done.stdout.strip() or done.stderr.strip()})"
    major, minor = int(match.group(1)), int(match.group(2))
    if (major == 20 and minor >= 20) or (major, minor) >= (22, 22):
        return None
    return f"node {done.stdout.strip()} is too old for promptfoo {PROMPTFOO_VERSION} (needs 20.20+ or 22.22+)"


def promptfoo_command() -> list[str]:
    """``[node, promptfoo's entry point]``, installing promptfoo into the cache on first use; else skip."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the real promptfoo CLI needs node and npm, which are not installed")
    problem = _node_ok(node)
    if problem:
        pytest.skip(problem)
    folder = cache_dir()
    entry = folder / "node_modules" / "promptfoo" / "dist" / "src" / "entrypoint.js"
    package = folder / "node_modules" / "promptfoo" / "package.json"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed(package):
            (folder / "package.json").write_text('{"private": true}\n', encoding="utf-8")
            try:
                done = subprocess.run(
                    [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"promptfoo@{PROMPTFOO_VERSION}"],
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    timeout=900,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"npm install promptfoo@{PROMPTFOO_VERSION} timed out (registry unreachable?)")
            if done.returncode != 0 or not _installed(package):
                pytest.skip(f"could not install promptfoo@{PROMPTFOO_VERSION} with npm: {done.stderr.strip()[-300:]}")
    if not entry.is_file():
        bin_entry = json.loads(package.read_text(encoding="utf-8")).get("bin", {})
        target = bin_entry.get("promptfoo") if isinstance(bin_entry, dict) else bin_entry
        entry = package.parent / str(target)
    return [node, str(entry)]


def _installed(package: Path) -> bool:
    try:
        return json.loads(package.read_text(encoding="utf-8")).get("version") == PROMPTFOO_VERSION
    except (OSError, ValueError):
        return False


def promptfoo_env(base_url: str, key: str, home: Path) -> dict[str, str]:
    """The environment for one eval: the loopback server, no telemetry or update checks, state under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PROMPTFOO_"))}
    env.update(
        {
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": key,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_CONFIG_DIR": str(home / ".promptfoo"),
            "PROMPTFOO_DISABLE_SHARING": "1",
        }
    )
    return env


def run_eval(config: Path, base_url: str, key: str, timeout: float = 300) -> tuple[int, dict[str, Any], str]:
    """``promptfoo eval -c CONFIG`` (no cache, JSON output): (exit code, the output file, the log)."""
    output = config.parent / "promptfoo-output.json"
    output.unlink(missing_ok=True)
    done = subprocess.run(
        [*promptfoo_command(), "eval", "-c", config.name, "-o", output.name, "--no-cache", "--no-table"],
        cwd=config.parent,
        env=promptfoo_env(base_url, key, config.parent),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    log = done.stdout + done.stderr
    if not output.is_file():
        raise AssertionError(f"promptfoo wrote no output (exit {done.returncode}):\n{log[-3000:]}")
    return done.returncode, json.loads(output.read_text(encoding="utf-8")), log
