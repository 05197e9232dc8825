"""Regenerate the engine, restoration, peers, scale-out and reliability sections of benchmarks/RESULTS.md, in sequence.

    python benchmarks/run_all.py                          # bundled prior, torch's thread count
    python benchmarks/run_all.py --prior DIR --threads 1  # another prior; one thread per process
    python benchmarks/run_all.py --dry-run                # print the commands only

Each script runs with ``--write`` in its own process, so every section carries the command, commit
and machine that produced it (``_results.write_section``); the first failure stops the sequence.
``--threads`` sets ``OMP_NUM_THREADS`` for the scripts. ``make benchmarks`` calls this script.
The audio and tumor sections need data and priors built first; their scripts
(``separation.py``, ``warm_start_excerpts.py``, ``generation.py``, ``tumor.py``, ``tumor_training_noise.py``)
name their own commands.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def commands(prior: str) -> list[list[str]]:
    """The scripts and their arguments, in the order they run."""
    return [["conformance.py", "--write"], ["restoration.py", "--write", "--prior", prior],
            ["peers.py", "--write", "--prior", prior], ["speed.py", "--write", "--prior", prior],
            ["load.py", "--write"], ["reliability.py", "--write"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", default="bundled:fashion-mnist-32", help="learned prior (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the scripts (default: unset)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    args = parser.parse_args()
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}))
    for script, *rest in commands(args.prior):
        cmd = [sys.executable, str(HERE / script), *rest]
        print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
        if not args.dry_run:
            subprocess.run(cmd, check=True, env=env, cwd=HERE.parent)


if __name__ == "__main__":
    main()
