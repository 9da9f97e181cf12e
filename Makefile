# devsim tasks. Every target except clean and distclean first sets up the
# virtual environment in .venv, once, and again only after pyproject.toml changes.
#
#   make test PYTEST_ARGS="-k book -x"   pass options to pytest
#   make PYTHON=python3.12 test          create .venv with another interpreter

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
KERNEL_NAME := devsim
PYTEST_ARGS ?=
BOOK_ARGS ?=

# JupyterLab refuses to start as root unless told to.
ifeq ($(shell id -u),0)
ALLOW_ROOT := --allow-root
endif

.DEFAULT_GOAL := help
.PHONY: help setup lab test app book bench clean distclean

help:
	@echo "make setup      create .venv, install devsim with its test extra, register the '$(KERNEL_NAME)' kernel"
	@echo "make lab        open JupyterLab on notebooks/00-welcome.ipynb, bound to 127.0.0.1 (prints its URL)"
	@echo "make test       run the test suite (PYTEST_ARGS=... passes options to pytest)"
	@echo "make app        serve the Voila apps in voila/ on http://127.0.0.1:8866"
	@echo "make book       execute every notebook into build/notebooks and convert it to build/html"
	@echo "make bench      run benchmarks/run.py"
	@echo "make clean      remove build outputs and caches, keep .venv"
	@echo "make distclean  remove build outputs, caches and .venv"

setup: $(VENV_STAMP)

# The stamp is newer than pyproject.toml once the install has succeeded, so an
# unchanged project does not reinstall. An existing .venv is reused, not recreated.
$(VENV_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: devsim needs Python 3.11 or newer; '$(PYTHON)' is older. Run: make PYTHON=python3.11 ..." >&2; exit 1; }
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --upgrade pip
	$(VENV_PYTHON) -m pip install -e ".[test]"
	$(VENV_PYTHON) -m ipykernel install --prefix $(VENV) --name $(KERNEL_NAME) --display-name "devsim (Python 3)"
	touch $@

lab: $(VENV_STAMP)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 $(ALLOW_ROOT) --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks/00-welcome.ipynb

test: $(VENV_STAMP)
	$(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

app: $(VENV_STAMP)
	$(VENV)/bin/voila voila/ --no-browser --port=8866 --Voila.ip=127.0.0.1

book: $(VENV_STAMP)
	$(VENV_PYTHON) -m devsim.book build --kernel $(KERNEL_NAME) $(BOOK_ARGS)

bench: $(VENV_STAMP)
	$(VENV_PYTHON) benchmarks/run.py

clean:
	rm -rf build out .pytest_cache
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
