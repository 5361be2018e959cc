# Two commands for a fresh machine with Python 3.11 and pip:
#   make demo   create .venv, install, train the toy model and run the study in miniature (config/toy.yaml)
#   make tiny   the same DAG on config/tiny.yaml (random weights: machinery only), in about two minutes
#   make test   install, run the tests
#   make rehearse  run config.yaml's and the OBS-Diff preset's DAGs end to end offline against stand-ins
#   make venv-image-reward  ImageReward's own environment (.venv-image-reward; envs/README.md says why)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
IMAGE_REWARD_VENV ?= .venv-image-reward
CORES ?= 2

.PHONY: venv venv-image-reward demo tiny test test-unit test-workflow lint clean rehearse

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# image-reward's pins (timm 0.6.13, transformers 4) cannot live beside the stack: its own venv, whose
# Python the score_image_reward job calls (scoring.image_reward_python); the rehearsal needs it.
venv-image-reward: $(IMAGE_REWARD_VENV)/.installed

$(IMAGE_REWARD_VENV)/.installed: envs/image-reward.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(IMAGE_REWARD_VENV)/bin/python || $(PYTHON) -m venv $(IMAGE_REWARD_VENV)
	$(IMAGE_REWARD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(IMAGE_REWARD_VENV)/bin/python -m pip install --quiet -r envs/image-reward.txt
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
rehearse: venv venv-image-reward
	$(BIN)/python -m sdprune.rehearsal --cores $(CORES) --fresh --image-reward-python $(IMAGE_REWARD_VENV)/bin/python

lint: venv
	$(BIN)/snakemake --lint --configfile config.yaml

clean:
	rm -rf results/tiny logs/tiny resources/models/tiny results/toy logs/toy resources/models/toy .snakemake .rehearsal
