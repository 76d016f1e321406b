# Set up, run and test glasstune. Every target installs what it needs into .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
GLASSTUNE := $(VENV)/bin/glasstune

.PHONY: install run smoke test test-all lint bench clean

install: $(VENV)/.installed

# torch first: the pinned CPU build, unless a torch (e.g. a CUDA build) is already in the environment;
# a looser requirement would pull several GB of CUDA packages onto a machine without a GPU.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,postgres]"
	touch $@

run: install            ## the main job: the MLP study at T = 0.45 on the built-in data
	$(GLASSTUNE) run studies/mlp_045.py

smoke: install          ## the whole pipeline on a tiny budget
	$(GLASSTUNE) run studies/mlp_045.py --smoke

lint: install
	$(VENV)/bin/ruff check glasstune tests studies $(wildcard benchmarks)

test: install lint      ## the fast suite, the slow tests, then PostgreSQL (server on 127.0.0.1:5432) and browser tests
	$(PY) -m pytest
	$(PY) -m pytest tests/faults tests/study tests/results -m "slow and not postgres and not gpu and not browser"
	$(PY) -m pytest -m postgres
	$(PY) -m pytest -m browser

test-all: install lint  ## everything this machine can run: slow, PostgreSQL and browser tests too
	$(PY) -m pytest -m "not gpu"

bench: install          ## every benchmark at its quick size (under 20 minutes on 2 busy cores); see benchmarks/README.md
	@set -e; start=$$(date +%s); for run in \
	  "bench_startup.py --repeats 3" \
	  "bench_mlp_trial.py --quick --repeats 2 --blas-threads 1" \
	  "bench_trial_batching.py --quick" \
	  "bench_time_to_good.py --quick" \
	  "bench_tracking_overhead.py --quick" \
	  "bench_workers.py --quick" \
	  "bench_cnn_loop.py" \
	  "bench_simulation.py --quick"; do \
	  echo "== $$run (load $$(cut -d' ' -f1-3 /proc/loadavg))"; t0=$$(date +%s); \
	  $(PY) benchmarks/$$run; echo "   ($$(( $$(date +%s) - t0 )) s)"; done; \
	echo "== make bench: $$(( $$(date +%s) - start )) s in all"

clean:
	rm -rf mlruns/*.db mlruns/artifacts mlruns/checkpoints .pytest_cache
