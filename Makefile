# bma-genetics: two commands on a fresh machine.
#   make demo   set up, simulate the demo cohort, run the whole study
#   make test   set up, run the test suite (make test-cluster: the Spark standalone-cluster tests)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
SEED   ?= 1
COHORT ?= demo_cohort
TORCH_VERSION := 2.13.0

.PHONY: setup java blas reference browser rpeers demo test test-cluster bench lint clean

setup: $(STAMP) java blas reference

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]' || exit 1
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: a bare torch requirement would pull a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

java:
	@bash scripts/ensure_java.sh

# OpenBLAS for Hail's JVM (about 3x faster association); best effort, never fatal.
blas: $(STAMP)
	@bash scripts/ensure_blas.sh $(VENV)/native

# Headless Chromium for the report's browser test; best effort, never fatal (the test skips).
browser:
	@bash scripts/ensure_chromium.sh

# A resource that cannot be fetched here (no apt, say) is reported; the tests that need it skip.
reference: $(STAMP)
	-$(BIN)/bma-genetics reference fetch

demo: setup
	$(BIN)/bma-genetics simulate --preset demo --seed $(SEED) --out $(COHORT) --resume --override imaging_batch_offset=0.1
	$(BIN)/bma-genetics run analyses/demo.yaml --cohort $(COHORT)

# R with survival and susieR (oracles of the survival and fine-mapping tests); best effort (they skip).
rpeers:
	@bash scripts/ensure_r.sh

test: setup browser rpeers
	$(BIN)/python -m pytest -q

# The GWAS on a real Spark standalone cluster (a master and two workers on 127.0.0.1, the Spark
# of the pyspark wheel): byte-identical to local mode, a worker and a driver killed (issue 19).
# Its own pytest process (one SparkContext per process); skips when Java or spark-class is missing.
test-cluster: setup
	BMA_GENETICS_TEST_CLUSTER=1 $(BIN)/python -m pytest -q tests/test_spark_cluster.py \
		tests/test_spark_submit.py::test_spark_submit_to_a_live_cluster_without_the_executor_jar_fails_with_one_line

bench: setup
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check bma_genetics tests benchmarks

clean:
	rm -rf $(VENV) runs $(COHORT) .pytest_cache
