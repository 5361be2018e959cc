# Two commands for a fresh machine with Python 3.11 and pip:
#   make demo   create .venv, install, train the toy model and run the study in miniature (config/toy.yaml)
#   make tiny   the same DAG on config/tiny.yaml (random weights: machinery only), in about two minutes
#   make test   install, run the tests
#   make rehearse  run config.yaml's DAG end to end offline against stand-ins of every source
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: venv demo tiny test test-unit test-workflow lint clean rehearse

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

demo: venv
	$(BIN)/snakemake --cores $(CORES) --configfile config/toy.yaml
	@echo
	@echo "Runs: results/toy/tables/runs.md; paper tables: results/toy/tables/; figures: results/toy/figures/"
	@cat results/toy/tables/cliffs.md

tiny: venv
	$(BIN)/snakemake --cores $(CORES) --configfile config/tiny.yaml
	@echo
	@echo "Results table: results/tiny/tables/runs.csv (Markdown: results/tiny/tables/runs.md)"
	@cat results/tiny/tables/runs.md

test: venv
	$(BIN)/python -m pytest tests -rs --durations=15

test-unit: venv
	$(BIN)/python -m pytest tests/unit

# config.yaml's own DAG, offline on a CPU at toy scale: the hub, COCO and the metric networks
# replaced at their boundaries by stand-ins served on 127.0.0.1 (src/sdprune/rehearsal/).
rehearse: venv
	$(BIN)/python -m sdprune.rehearsal --cores $(CORES) --fresh

lint: venv
	$(BIN)/snakemake --lint --configfile config.yaml

clean:
	rm -rf results/tiny logs/tiny resources/models/tiny results/toy logs/toy resources/models/toy .snakemake .rehearsal
