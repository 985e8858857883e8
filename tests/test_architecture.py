"""Architecture rules: the core never imports streamlit, and importing it has no side effects."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "workbench"


def core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "ui" not in p.relative_to(CORE).parts[:1])


def streamlit_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        found += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] == "streamlit"]
    return found


def test_the_walk_sees_the_core_modules():
    names = {p.relative_to(CORE).as_posix() for p in core_files()}
    assert {"runner.py", "service.py", "cli/__init__.py", "storage/repository.py"} <= names
    assert not any(n.startswith("ui/") for n in names)


def test_core_never_imports_streamlit():
    offenders = [hit for path in core_files() for hit in streamlit_imports(path)]
    assert offenders == []


def test_the_checker_catches_a_streamlit_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text(
        "import os\n"
        "def f():\n"
        "    import streamlit.components.v1 as c\n"
        "    from streamlit import session_state\n"
        "    return importlib.import_module('streamlit')\n"
    )
    assert streamlit_imports(sample) == ["x.py:3 streamlit.components.v1", "x.py:4 streamlit", "x.py:5 streamlit"]


IMPORT_EVERYTHING = r"""
import collections.abc, importlib, inspect, json, os, pkgutil, sys

WATCHED = ("OPENAI_", "WORKBENCH_")
reads = []

class Recorder(collections.abc.MutableMapping):
    def __init__(self, inner):
        self._inner = inner
    def _note(self, key):
        if isinstance(key, str) and key.startswith(WATCHED):
            for frame in inspect.stack()[2:6]:
                if "/workbench/" in frame.filename and "/site-packages/" not in frame.filename:
                    reads.append(f"{key} from {frame.filename}:{frame.lineno}")
                    break
    def __getitem__(self, key):
        self._note(key)
        return self._inner[key]
    def get(self, key, default=None):
        self._note(key)
        return self._inner.get(key, default)
    def __contains__(self, key):
        self._note(key)
        return key in self._inner
    def __setitem__(self, key, value):
        self._inner[key] = value
    def __delitem__(self, key):
        del self._inner[key]
    def __iter__(self):
        return iter(self._inner)
    def __len__(self):
        return len(self._inner)
    def copy(self):
        return dict(self._inner)

os.environ = Recorder(os.environ)

import workbench
names = sorted(
    m.name for m in pkgutil.walk_packages(workbench.__path__, "workbench.")
    if not (m.name == "workbench.ui" or m.name.startswith("workbench.ui."))
)
modules = [importlib.import_module(n) for n in names if n != "workbench.__main__"]

from sqlalchemy.engine import Engine
import openai
from workbench.config import Settings
made = [
    f"{m.__name__}.{attr}"
    for m in modules
    for attr, value in vars(m).items()
    if isinstance(value, (Engine, openai.OpenAI, Settings))
]
print(json.dumps({"modules": names, "reads": reads, "made": made, "streamlit": "streamlit" in sys.modules}))
"""


def test_importing_the_core_creates_nothing_and_reads_no_settings(tmp_path):
    home = tmp_path / "home"
    work = tmp_path / "cwd"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "WORKBENCH_", "XDG_"))}
    env.update(
        HOME=str(home),
        PYTHONPATH=str(ROOT),
        OPENAI_API_KEY="sk-import-time",
        WORKBENCH_DATABASE_URL=f"sqlite:///{tmp_path / 'should-not-exist.db'}",
    )
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "workbench.runner" in report["modules"] and "workbench.cli" in report["modules"]
    assert report["reads"] == []
    assert report["made"] == []
    assert report["streamlit"] is False
    assert list(work.iterdir()) == []
    assert list(home.iterdir()) == []
    assert not (tmp_path / "should-not-exist.db").exists()
