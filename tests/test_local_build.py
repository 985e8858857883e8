"""The installed llama.cpp is a portable build: no AVX-512 or AMX code, whatever CPU compiled it.

``requirements-local.txt`` compiles llama.cpp with ``GGML_NATIVE=OFF`` (AVX2/FMA/F16C on). A native
build on a CPU that advertises AVX-512 or AMX crashes on a VM where those units do not work, and
pip's wheel cache (keyed by the download, not the build settings) can hand such a build back: this
test makes CI red when that happens. Skipped when the local model is not installed.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.local import llama_server_installed

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not llama_server_installed(), reason="llama-cpp-python is not installed (pip install -r requirements-local.txt)"
    ),
]


def _libraries() -> list[Path]:
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.origin
    found = sorted(p for p in (Path(spec.origin).parent / "lib").glob("*.so") if p.is_file())
    assert found, "llama_cpp ships no shared libraries"
    return found


def test_llama_cpp_was_compiled_without_avx512_or_amx() -> None:
    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    info = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "AVX2 = 1" in info, info  # the portable baseline is there
    assert not re.search(r"(AVX512\w*|AMX\w*) = 1", info), f"a native build: {info.strip()}"


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
def test_no_library_uses_avx512_or_amx_registers() -> None:
    for library in _libraries():
        listing = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True, timeout=120
        ).stdout
        assert "%zmm" not in listing, f"{library.name} has AVX-512 instructions"
        assert "%tmm" not in listing, f"{library.name} has AMX instructions"


def test_requirements_local_carries_the_portable_settings() -> None:
    line = next(
        line
        for line in (ROOT / "requirements-local.txt").read_text("utf-8").splitlines()
        if line.startswith("llama-cpp-python")
    )
    for setting in ("GGML_NATIVE=OFF", "GGML_AVX=ON", "GGML_AVX2=ON", "GGML_FMA=ON", "GGML_F16C=ON"):
        assert f"--config-settings=cmake.define.{setting}" in line
    assert "--no-cache-dir -r requirements-local.txt" in (ROOT / ".ci" / "run").read_text("utf-8")
