# complaint-triage — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt hatch_build.py src/complaint_triage/_speedups.c | cksum | cut -d' ' -f1)
EXTRAS ?= api,batch,dask,notebooks,dev
# the versions the tests last passed with (empty: newest within pyproject.toml's ranges)
CONSTRAINTS ?= constraints.txt

.PHONY: install demo test bench corpus train eval serve lint clean

$(STAMP): pyproject.toml constraints.txt hatch_build.py src/complaint_triage/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]" $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	@mkdir -p build
	$(BIN)/complaint-triage score examples/messages.jsonl -o build/demo-scored.jsonl
	$(BIN)/complaint-triage summary build/demo-scored.jsonl

test: install
	$(BIN)/python -m pytest

bench: install
	$(PY) bench/throughput.py --stages
	$(PY) bench/paired_ratio.py
	$(PY) bench/evidence_cost.py
	$(PY) bench/instructions.py
	$(PY) bench/api_load.py
	$(PY) bench/api_load.py --workers 1 --set scoring_process=true --out build/bench-api-scoring-process.json
	$(PY) bench/api_instructions.py
	$(PY) bench/batch_throughput.py --rows 10000,100000

corpus: install
	$(PY) tools/build_corpus.py
	$(PY) tools/augment.py
	$(PY) tools/corpus_stats.py

train: install
	$(BIN)/complaint-triage train

eval: install
	$(PY) tools/write_eval_report.py

serve: install
	$(BIN)/complaint-triage serve

lint: install
	$(BIN)/ruff check src tests bench tools

clean:
	rm -rf build .pytest_cache
