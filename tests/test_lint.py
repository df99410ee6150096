"""Style gates that CI enforces: ruff on the Python code, snakemake --lint and snakefmt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CHECKS = {
    "ruff": [str(BIN / "ruff"), "check", "."],
    "snakemake --lint": [str(BIN / "snakemake"), "--lint"],
    "snakefmt": [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
}


@pytest.mark.parametrize("name", CHECKS)
def test_code_passes(name):
    result = subprocess.run(CHECKS[name], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
