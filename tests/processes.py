"""Helpers of the fault-injection tests: run ``projdiff`` in a child process and wait for a condition."""

import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def start_projdiff(args: list, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """``python -m projdiff ARGS`` in the repository root, stdout and stderr together, this process's threads."""
    return subprocess.Popen([sys.executable, "-m", "projdiff", *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), **(env or {})},
                            **kwargs)


def wait_until(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    """Poll ``condition()`` until true; fail if ``process`` exits first or ``timeout`` seconds pass."""
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, f"exited early ({process.returncode}):\n{process.stdout.read()}"
        assert time.time() < deadline, "timed out"
        time.sleep(0.01)
