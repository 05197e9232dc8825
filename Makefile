# Two commands do everything on a fresh machine:
#   make demo   set up, then restore an image with the bundled prior (writes demo/…_grid.png)
#   make test   set up, then run the whole test suite
#   make benchmarks   set up, then regenerate benchmarks/RESULTS.md (hours on a CPU; benchmarks/run_all.py)
VENV ?= .venv

.PHONY: setup demo test benchmarks
setup:
	@VENV=$(VENV) scripts/setup.sh

demo: setup
	$(VENV)/bin/projdiff demo --out demo

test: setup
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q -n 2   # one thread per worker: 2 workers fill 2 cores

benchmarks: setup
	$(VENV)/bin/python benchmarks/run_all.py
