"""Architecture rules: imports point down the floors, the core never imports streamlit, importing has no effects."""

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


# The floors, lowest first. A module may import from its own floor and the floors below, never above;
# the two adapters at the top (the CLI and the UI with its pages) never import each other.
FLOORS: list[tuple[str, set[str]]] = [
    (
        "foundations",
        {
            "errors", "config", "processes", "templating", "scoring", "stats", "tokens", "csvsafe", "data",
            "formatting", "providers.base", "confidence", "calibration", "suggest", "redaction", "yamlsafe",
        },
    ),
    (
        "domain",
        {
            "promptfile", "datasets", "pricing", "chat", "sweep", "access", "limiter", "local", "providers", "metrics",
            "charts", "reporting", "export", "promptfoo", "prompts", "target", "cascade", "charts_cascade",
            "label_check", "delivery", "cell_choice", "plan_cost",
        },
    ),
    ("storage", {"storage"}),
    ("engine", {"runner", "batch", "budgets", "usage", "planning_aids"}),
    ("use cases", {"service", "runs", "jobs", "worker", "library", "winner", "api", "tryit", "__init__"}),
    ("adapters", {"cli", "__main__", "ui"}),
]  # fmt: skip
ADAPTERS = ("cli", "ui")


def module_name(path: Path) -> str:
    """``workbench/storage/repository.py`` -> ``storage.repository``; the package itself is ``__init__``."""
    parts = list(path.relative_to(CORE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def floor_of(module: str) -> int:
    """The floor of a module (its longest listed prefix decides: ``providers.base`` before ``providers``)."""
    best = None
    for number, (_, names) in enumerate(FLOORS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (number, name)
    assert best is not None, f"workbench/{module}: give it a floor in FLOORS (tests/test_architecture.py)"
    return best[0]


def workbench_imports(path: Path, modules: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every workbench module ``path`` imports, at any depth (functions, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if n.removeprefix("workbench.") in modules else node.module for n in names]
        for name in names:
            if name == "workbench" or name.startswith("workbench."):
                found.append((node.lineno, name.removeprefix("workbench.").removeprefix("workbench") or "__init__"))
    return found


def adapter(module: str) -> str | None:
    """Which adapter a module belongs to (``python -m workbench`` is the CLI's), or None."""
    module = "cli" if module == "__main__" else module
    return next((a for a in ADAPTERS if module == a or module.startswith(a + ".")), None)


def layer_violations(files: list[tuple[str, Path]], modules: set[str]) -> list[str]:
    found = []
    for importer, path in files:
        for line, imported in workbench_imports(path, modules):
            if imported == importer:
                continue
            where = (
                f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line} imports workbench.{imported}"
            )
            mine, theirs = floor_of(importer), floor_of(imported)
            if theirs > mine:
                found.append(f"{where} ({FLOORS[theirs][0]}, above {FLOORS[mine][0]})")
            elif adapter(imported) and adapter(importer) != adapter(imported):
                found.append(f"{where} (another adapter)")
    return found


def test_imports_point_down_the_floors():
    core = [(module_name(p), p) for p in sorted(CORE.rglob("*.py"))]
    modules = {name for name, _ in core}
    # app.py and the pages are the UI adapter's screens.
    screens = [(f"ui.pages.{p.stem}", p) for p in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]]
    assert len(screens) > 5 and {"runner", "storage.repository", "cli.commands_sweep", "ui.chrome"} <= modules
    assert layer_violations(core + screens, modules) == []


def test_the_floor_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from workbench.runner import Runner\n    from workbench.cli.common import money\n")
    modules = {"runner", "cli.common", "storage.repository"}
    assert [v.split(" imports ")[1] for v in layer_violations([("storage.repository", bad)], modules)] == [
        "workbench.runner (engine, above storage)",
        "workbench.cli.common (adapters, above storage)",
    ]
    assert [v.split(" imports ")[1] for v in layer_violations([("ui.pages.x", bad)], modules)] == [
        "workbench.cli.common (another adapter)"
    ]


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


PAGE_LINES = 200


def test_pages_are_thin():
    """A page reads like its screen: its logic lives in workbench/ui/ helpers and the core's use cases."""
    long = {p.name: n for p in sorted((ROOT / "pages").glob("*.py")) if (n := len(p.read_text().splitlines())) >= 200}
    assert long == {}, f"pages of {PAGE_LINES} lines or more: {long}"
