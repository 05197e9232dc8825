"""The README's Python examples run as written and give the values their comments promise."""

import functools
import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@functools.lru_cache(maxsize=None)
def executed(index: int) -> dict:
    """The names a block defines; each block runs once per session (the bundled-prior one takes seconds)."""
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), namespace)
    return namespace


def run_block(marker: str) -> tuple[str, dict]:
    index = next(i for i, b in enumerate(BLOCKS) if marker in b)
    return BLOCKS[index], executed(index)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index):
    executed(index)


def test_quick_start_prints_what_its_comment_promises():
    """Guards the first example's comment: 'mean of the 4 samples, their spread, 51 calls'."""
    block, ns = run_block("SuperResolution")
    calls = int(re.search(r"(\d+) calls", block).group(1))
    samples = int(re.search(r"mean of the (\d+) samples", block).group(1))
    result = ns["result"]
    assert (calls, samples) == (51, 4)                      # the README's words, read back
    assert result.nfe == calls
    assert result.samples.shape == (samples, 2, 1, 32, 32)
    assert result.x.shape == result.std.shape == (2, 1, 32, 32)
    torch.testing.assert_close(result.x, result.samples.mean(0))
    torch.testing.assert_close(result.std, result.samples.std(0))


def test_custom_operator_example_solves_with_the_default_steps():
    """'steps defaults to ... 100': NFE 101; the operator passes its contract in the block itself."""
    _, ns = run_block("LinearOperator(")
    result = ns["result"]
    assert result.nfe == 101 and result.samples.shape == (8, 1, 64)
    assert float((ns["op"](result.x) - ns["y"]).abs().max()) < 0.1      # fits measurements with noise 0.01


def test_custom_operator_example_is_short():
    custom = next(b for b in BLOCKS if "LinearOperator(" in b)
    assert len([line for line in custom.splitlines() if line.strip()]) <= 15
