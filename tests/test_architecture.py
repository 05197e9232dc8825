"""The layers are enforced by import-linter (contracts in pyproject.toml), and the contracts bite."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())", "--no-cache"]


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(LINT, cwd=tree, env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_import_contracts():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


def test_an_upward_import_and_a_cross_application_import_break_the_contracts(tmp_path):
    """A copy of the package with two planted imports: the engine importing the CLI, one
    application importing another. The linter must name both."""
    shutil.copytree(ROOT / "projdiff", tmp_path / "projdiff", ignore=shutil.ignore_patterns("bundled", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "projdiff" / "engine" / "schedules.py", "a") as f:
        f.write("\nimport projdiff.cli  # planted: the engine reaching up to the command line\n")
    with open(tmp_path / "projdiff" / "apps" / "tumor" / "demo.py", "a") as f:
        f.write("\nimport projdiff.apps.audio.metrics  # planted: one application importing another\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    assert "projdiff.engine.schedules -> projdiff.cli" in done.stdout
    assert "projdiff.apps.tumor.demo -> projdiff.apps.audio.metrics" in done.stdout
    assert "1 kept, 2 broken" in done.stdout
