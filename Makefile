# meshlab.service_mesh — the team's memory. `make help` lists the targets.
#
#   make lab     set-up + the lab (playbooks/site.yml)
#   make test    set-up + every test this repository has (.ci/run calls exactly this)

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CACHE_DIR ?= $(CURDIR)/.cache
VENV := $(CURDIR)/.venv
PYTHON := $(VENV)/bin/python
BIN := $(VENV)/bin
COLLECTIONS_DIR := $(CACHE_DIR)/collections
SYSTEM_PYTHON ?= python3
# galaxy-importer's own venv (see its rule below).
IMPORTER_VENV := $(CACHE_DIR)/importer-venv

PROVIDER ?= minishift
S ?=
# Molecule scenarios run by `make test`, in this order (each one `make molecule S=<name>`).
SCENARIOS ?= base_image minishift kwok weave_scope istio default

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS_DIR)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# ansible-lint and Molecule install a copy of this collection into ANSIBLE_HOME/collections and
# put it first on the path: keep that copy inside the checkout's cache, never in ~/.ansible
# (a stale copy there would shadow the working tree, in this checkout and in others).
export ANSIBLE_HOME := $(CACHE_DIR)/ansible-home
export MESHLAB_CACHE_DIR := $(CACHE_DIR)
export PY_COLORS := 0
export ANSIBLE_FORCE_COLOR := 0
export ANSIBLE_NOCOLOR := 1

PLAYBOOKS := $(wildcard playbooks/*.yml)

# The simulated cluster (tests/cluster): build, cluster-up/down, artifacts-up/down, test-cluster.
include tests/cluster/cluster.mk

# What delegated Molecule scenarios read: one shared simulated cluster per flavor and the
# local artifact server (make test-env-up starts them; both are idempotent).
export MESHLAB_KUBECONFIG_KUBERNETES := $(CACHE_DIR)/cluster/kubernetes/kubeconfig
export MESHLAB_KUBECONFIG_OPENSHIFT := $(CACHE_DIR)/cluster/openshift/kubeconfig
# The artifact server may move off its default port when that is taken: ask it at run time.
ARTIFACTS_URL = $$(MESHLAB_CACHE_DIR=$(CACHE_DIR) tests/cluster/artifacts.sh url)
export MESHLAB_ISTIO_VERSION := $(ISTIO_VERSION)

.PHONY: bench integration teardown lab-bin cluster-bin-dir test-env-up test-env-down help setup host-deps lab test lint sanity unit syntax build molecule molecule-all docker-ready clean

help: ## List the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'
	@echo "  Variables: PROVIDER=minishift|crc|kwok|existing (lab), S=<scenario> (molecule)"

$(VENV)/.installed: tests/requirements.txt
	@echo "setup: Python packages into $(VENV)"
	@test -x $(PYTHON) || $(SYSTEM_PYTHON) -m venv $(VENV)
	@$(PYTHON) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PYTHON) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	@touch $@

$(COLLECTIONS_DIR)/.installed: $(VENV)/.installed requirements.yml tests/requirements.yml tests/scripts/install_collections.py
	@$(PYTHON) tests/scripts/install_collections.py --dir $(COLLECTIONS_DIR) --repo $(CURDIR) \
	  requirements.yml tests/requirements.yml
	@touch $@

setup: $(VENV)/.installed $(COLLECTIONS_DIR)/.installed ## Venv, Python packages, collections, this collection on the path

LAB_ARGS ?=
KEEP_CLUSTER ?= 0
# The Ansible strategy of the lab and the integration tests: mitogen_linear (mitogen, tests/requirements.txt) when
# it runs with the installed ansible-core, else linear with a one-line note. tests/scripts/strategy.sh decides with
# a one-task probe, kept per ansible-core and mitogen version. STRATEGY=linear turns mitogen off;
# STRATEGY=mitogen_linear fails when it cannot run. The exports live here, not in ansible.cfg (installed
# collections read no venv path).
STRATEGY ?= auto
STRATEGY_ENV = strategy_env=$$(tests/scripts/strategy.sh $(PYTHON) $(STRATEGY)); env $$strategy_env
# On the simulated cluster the lab takes its binaries and Istio release from this checkout's
# build (tests/cluster): no download from the internet is needed.
KWOK_LAB_ARGS = -e minishift_kwok_bin_dir=$(LAB_BIN_DIR) -e istio_version=$(ISTIO_VERSION) \
	-e istio_download_base_url=$(ARTIFACTS_URL) -e istio_download_allow_http=true
PROVIDER_ARGS = -e minishift_provider=$(PROVIDER) $(if $(filter kwok,$(PROVIDER)),$(KWOK_LAB_ARGS))

lab: setup $(if $(filter kwok,$(PROVIDER)),lab-bin artifacts-up) ## Run the lab: playbooks/site.yml (PROVIDER=minishift|crc|kwok|existing)
	$(STRATEGY_ENV) ansible-playbook -i inventory/localhost.yml playbooks/site.yml $(PROVIDER_ARGS) $(LAB_ARGS)

teardown: setup $(if $(filter kwok,$(PROVIDER)),lab-bin) ## Take the lab down (PROVIDER=..., KEEP_CLUSTER=1 keeps the VM/cluster)
	$(STRATEGY_ENV) ansible-playbook -i inventory/localhost.yml playbooks/teardown.yml $(PROVIDER_ARGS) \
	  -e teardown_keep_cluster=$(if $(filter 1,$(KEEP_CLUSTER)),true,false) $(LAB_ARGS)

# Layers run in this order (tests/scripts/run-layers.sh): a+b runs a and b at the same time, each in a lane of its
# own; a,b in one lane runs a then b. The machine has 2 cores and most layers use one, so each group keeps two lanes
# busy (a group ends when its last lane does):
# 1. the layers that use no cluster of the suites, in two lanes of ~5.5 min each: lint, the quick checks, unit,
#    test-cluster (it starts and stops the shared clusters and the artifact server: nothing else in this group uses
#    them) and the newest core's matrix | sanity, build, the other cores' matrix;
# 2. integration (two pytest-xdist workers, clusters of their own), then the lab installed with the newest core (a
#    cluster of its own) | Molecule (the shared clusters), the longest layer.
# 3. task-coverage reads what integration and Molecule logged.
comma := ,
empty :=
space := $(empty) $(empty)
lane = $(subst $(space),$(comma),$(strip $(1)))
MATRIX_LAYERS = $(addprefix matrix-,$(MATRIX_CORES))
TEST_LAYERS ?= $(call lane,lint docs-check syntax ee unit test-cluster $(lastword $(MATRIX_LAYERS)))+$(call lane,sanity build $(filter-out $(lastword $(MATRIX_LAYERS)),$(MATRIX_LAYERS))) \
	$(call lane,integration matrix-installed)+molecule-all task-coverage
# host-deps first: layers in two lanes need it (sanity, the matrix), and apt-get runs one at a time.
test: setup host-deps ## Every test: lint, sanity, unit, syntax, build+import, cluster, integration, molecule, task coverage
	@rm -f $(TASK_COVERAGE_LOG)
	@test -n "$(strip $(TEST_LAYERS))" || { echo "test: TEST_LAYERS is empty: no layer would run, so this fails" >&2; exit 2; }
	@rc=0; $(CURDIR)/tests/scripts/run-layers.sh $(TEST_LAYERS) || rc=$$?; \
	$(MAKE) -s test-env-down; exit $$rc

lint: setup ## yamllint + ansible-lint (production profile) + ruff
	rm -rf $(ANSIBLE_HOME)/collections/ansible_collections/meshlab
	yamllint --strict .
	ansible-lint --profile production --offline
	ruff check plugins tests molecule
	ruff format --check plugins tests molecule

host-deps: ## Debian packages the tests need on the host (docker.io, debootstrap, shellcheck)
	tests/scripts/host-packages.sh

sanity: setup host-deps ## ansible-test sanity on a copy placed at ansible_collections/meshlab/service_mesh
	tests/scripts/sanity.sh

# The Istio release tarball (artifacts-build) is unit-test input: the addon patches are checked against its samples.
unit: setup artifacts-build ## pytest unit tests under tests/unit
	MESHLAB_REQUIRE_RELEASE=1 pytest tests/unit

syntax: setup ## ansible-playbook --syntax-check on every playbook
	@for p in $(PLAYBOOKS); do \
	  ansible-playbook -i inventory/localhost.yml --syntax-check "$$p"; done

build: setup $(IMPORTER_VENV)/.installed ## ansible-galaxy collection build + galaxy-importer (its own venv) on the tarball
	MESHLAB_IMPORTER_VENV=$(IMPORTER_VENV) tests/scripts/build-and-import.sh

# Which role task files the tests ran: a callback kept under tests/ (not in the collection) logs each task
# file that gave a non-skipped result, for the targets that run the roles (Molecule's docker scenarios
# run ansible-playbook here too); `make task-coverage`, the last layer of `make test`, compares the log
# with roles/*/tasks and fails listing what no test executed (tests/coverage/allowlist.yml: what cannot run here).
TASK_COVERAGE_LOG := $(CACHE_DIR)/coverage/task-files.log
TASK_COVERAGE_TARGETS := integration molecule molecule-all
$(TASK_COVERAGE_TARGETS): export ANSIBLE_CALLBACK_PLUGINS := $(CURDIR)/tests/coverage/callback_plugins
$(TASK_COVERAGE_TARGETS): export ANSIBLE_CALLBACKS_ENABLED := ansible.builtin.default,meshlab_task_files
$(TASK_COVERAGE_TARGETS): export MESHLAB_TASK_COVERAGE_LOG := $(TASK_COVERAGE_LOG)

.PHONY: task-coverage
task-coverage: setup ## Every role task file ran in some test of this run (after integration and molecule)
	$(PYTHON) tests/coverage/check_task_files.py --log $(TASK_COVERAGE_LOG)

.PHONY: docs docs-check ee
docs: setup ## Regenerate README.md's role variable tables from roles/*/meta/argument_specs.yml
	$(PYTHON) tests/scripts/role_docs.py --write

docs-check: setup ## README.md's role variable tables match the argument specs
	$(PYTHON) tests/scripts/role_docs.py --check

# The execution environment's build context (no image build, no network), then what it must hold.
EE_CONTEXT := $(CACHE_DIR)/ee
ee: setup ## ansible-builder create for execution-environment.yml, then check the build context
	rm -rf $(EE_CONTEXT)
	ansible-builder create -f execution-environment.yml --context $(EE_CONTEXT) --output-filename Containerfile -v 1
	test -s $(EE_CONTEXT)/Containerfile
	grep -q '^ARG EE_BASE_IMAGE="quay.io/fedora/fedora:42"' $(EE_CONTEXT)/Containerfile
	grep -q '^ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.19,<2.20 ' $(EE_CONTEXT)/Containerfile
	cmp requirements.yml $(EE_CONTEXT)/_build/requirements.yml
	cmp meta/ee-requirements.txt $(EE_CONTEXT)/_build/requirements.txt
	cmp bindep.txt $(EE_CONTEXT)/_build/bindep.txt
	@# Installed into an EE, this collection declares its own needs (meta/execution-environment.yml):
	@$(PYTHON) $(EE_CONTEXT)/_build/scripts/introspect.py introspect $(COLLECTIONS_DIR) >$(EE_CONTEXT)/introspect.yml
	grep -q "^- 'kubernetes.*from collection meshlab.service_mesh'" $(EE_CONTEXT)/introspect.yml
	grep -q "^- 'graphviz.*from collection meshlab.service_mesh'" $(EE_CONTEXT)/introspect.yml
	@echo "ee: build context in $(EE_CONTEXT): Containerfile, requirements.yml, requirements.txt, bindep.txt; introspection finds this collection's needs"

# The integration tests run on INTEGRATION_WORKERS processes (pytest-xdist, --dist loadfile: a test file, or the files
# that read one converged lab, runs whole on one worker, the heaviest first, a worker taking the next when it comes to
# its last test; see tests/integration/conftest.py). Each worker starts clusters of its own
# (meshlab-<MESHLAB_IT_PREFIX>-w<N>-...). They mostly wait (on the clusters, on the roles' waits, on the faults they
# inject): two workers' pytest and ansible-playbook processes used 0.6 of a core on average. INTEGRATION_WORKERS=1:
# one process, as before (e.g. for --pdb).
INTEGRATION_WORKERS ?= 2
INTEGRATION_XDIST = $(if $(filter-out 0 1,$(INTEGRATION_WORKERS)),-n $(INTEGRATION_WORKERS) --dist loadfile --no-loadscope-reorder,-p no:xdist)
integration: setup lab-bin artifacts-build scanners ## Roles against their own simulated clusters: bad input, faults, teardown, secrets, scanners (pytest tests/integration; INTEGRATION_WORKERS=2)
	$(STRATEGY_ENV) pytest tests/integration -v -rs $(INTEGRATION_XDIST) $(PYTEST_ARGS)

BENCH_RUNS ?= 3
bench: setup lab-bin artifacts-up ## Benchmark on the simulated cluster, strategies linear and mitogen_linear: site first run, no-op re-run, module runs, kubectl+istioctl baseline (BENCH_RUNS=3); docs/bench.md
	$(PYTHON) tests/scripts/bench.py --runs $(BENCH_RUNS) --istio-version $(ISTIO_VERSION) \
	  --istio-base-url "$(ARTIFACTS_URL)" --lab-strategy $(STRATEGY) $(BENCH_ARGS)

# The manifest scanner (checkov, PyPI) in a venv of its own: its dependencies pin versions the
# project venv's tools do not share. tests/integration/test_scan.py runs it.
SCAN_VENV := $(CACHE_DIR)/scan-venv
$(SCAN_VENV)/.installed: tests/scan/requirements.txt
	@echo "scanners: checkov into $(SCAN_VENV)"
	@test -x $(SCAN_VENV)/bin/python || $(SYSTEM_PYTHON) -m venv $(SCAN_VENV)
	@$(SCAN_VENV)/bin/python -m pip install -q --disable-pip-version-check -r tests/scan/requirements.txt
	@$(SCAN_VENV)/bin/checkov --version >/dev/null
	@touch $@

.PHONY: scanners
scanners: $(SCAN_VENV)/.installed ## The manifest scanner checkov in .cache/scan-venv (tests/scan/requirements.txt)

# galaxy-importer in a venv of its own: it pins ansible-core below 2.20, which the project venv
# (and the lab) must not be held to. `make build` runs it on the built tarball.
$(IMPORTER_VENV)/.installed: tests/importer/requirements.txt
	@echo "importer: galaxy-importer into $(IMPORTER_VENV)"
	@test -x $(IMPORTER_VENV)/bin/python || $(SYSTEM_PYTHON) -m venv $(IMPORTER_VENV)
	@$(IMPORTER_VENV)/bin/python -m pip install -q --disable-pip-version-check -r tests/importer/requirements.txt
	@touch $@

# The ansible-core version matrix (tests/matrix): every core the collection promises, each in a
# venv of its own (.cache/matrix/core-<core>) on a Python that core runs on, found by
# tests/scripts/find-python.sh (pyenv's versions included; a missing one fails saying so).
# make matrix-<core>: ansible-test sanity and the unit tests with that core.
# make matrix-installed: the whole lab with the newest core, as a user runs it: the built tarball
# installed by ansible-galaxy into an empty path, playbooks run from a folder outside the checkout.
MATRIX_CORES ?= 2.17 2.19 2.21
MATRIX_NEWEST := $(lastword $(MATRIX_CORES))
MATRIX_DIR := $(CACHE_DIR)/matrix
# ansible-core 2.17 runs on Python 3.10-3.12, 2.19 on 3.11-3.13, 2.21 on 3.12-3.14.
MATRIX_PYTHON_2.17 := 3.11
MATRIX_PYTHON_2.19 := 3.13
MATRIX_PYTHON_2.21 := 3.12

$(MATRIX_DIR)/core-%/.installed: tests/matrix/core-%.txt tests/scripts/matrix-venv.sh | $(VENV)/.installed
	@test -n "$(MATRIX_PYTHON_$*)" || { echo "matrix: no MATRIX_PYTHON_$* in the Makefile: which Python runs ansible-core $*?" >&2; exit 2; }
	tests/scripts/matrix-venv.sh $* $(MATRIX_PYTHON_$*) $(MATRIX_DIR)/core-$* $(VENV)
	@touch $@

.PHONY: matrix matrix-installed $(addprefix matrix-,$(MATRIX_CORES))
matrix: $(addprefix matrix-,$(MATRIX_CORES)) matrix-installed ## The ansible-core version matrix: sanity + unit per core, the installed lab on the newest

$(addprefix matrix-,$(MATRIX_CORES)): matrix-%: setup host-deps artifacts-build $(MATRIX_DIR)/core-%/.installed
	MESHLAB_SANITY_VENV=$(MATRIX_DIR)/core-$* MESHLAB_SANITY_COLLECTIONS=$(MATRIX_DIR)/core-$*/collections \
	  tests/scripts/sanity.sh
	cd $(CURDIR) && env -u ANSIBLE_COLLECTIONS_PATH PYTHONPATH=$(MATRIX_DIR)/core-$*/collections \
	  $(MATRIX_DIR)/core-$*/bin/python -m pytest -p no:cacheprovider tests/unit

matrix-installed: setup lab-bin artifacts-build $(MATRIX_DIR)/core-$(MATRIX_NEWEST)/.installed ## The lab with the newest core from the installed tarball, outside the checkout
	MESHLAB_MATRIX_VENV=$(MATRIX_DIR)/core-$(MATRIX_NEWEST) pytest tests/matrix -v -rs $(PYTEST_ARGS)

docker-ready: host-deps ## Docker daemon answers (started if needed) and the Molecule base image exists
	tests/scripts/ensure-docker.sh
	tests/scripts/build-base-image.sh

# One folder linking every simulated-cluster binary, for the kwok provider (minishift_kwok_bin_dir).
LAB_BIN_DIR := $(CACHE_DIR)/bin/lab
export MESHLAB_KWOK_BIN_DIR := $(LAB_BIN_DIR)

lab-bin: cluster-build
	@mkdir -p $(LAB_BIN_DIR)
	@for p in kube-apiserver-$(KUBERNETES_VERSION)/kube-apiserver \
	          kube-controller-manager-$(KUBERNETES_VERSION)/kube-controller-manager \
	          kube-scheduler-$(KUBERNETES_VERSION)/kube-scheduler kubectl-$(KUBERNETES_VERSION)/kubectl \
	          etcd-$(ETCD_VERSION)/etcd kwok-$(KWOK_VERSION)/kwok kwokctl-$(KWOK_VERSION)/kwokctl \
	          istioctl-$(ISTIO_VERSION)/istioctl; do \
	  test -x "$(CACHE_DIR)/bin/$$p" || { echo "lab-bin: $(CACHE_DIR)/bin/$$p was not built" >&2; exit 1; }; \
	  ln -sfn "$(CACHE_DIR)/bin/$$p" "$(LAB_BIN_DIR)/$${p##*/}"; done

cluster-bin-dir: ## Build the simulated cluster's binaries; print one folder linking them all
	@$(MAKE) -s lab-bin >&2
	@echo $(LAB_BIN_DIR)

test-env-up: lab-bin ## Start the shared simulated clusters (both flavors) and the artifact server
	@$(MAKE) -s cluster-up FLAVOR=kubernetes
	@$(MAKE) -s cluster-up FLAVOR=openshift
	@$(MAKE) -s artifacts-up

test-env-down: ## Stop the shared simulated clusters and the artifact server
	@$(MAKE) -s cluster-down FLAVOR=kubernetes
	@$(MAKE) -s cluster-down FLAVOR=openshift
	@$(MAKE) -s artifacts-down

# Tests never write the lab's fact cache (.cache/facts, `make lab`'s): each scenario has a cache of its own
# (molecule.yml). A scenario that has none inherits an empty sentinel folder instead, and fails naming what it cached.
FACT_CACHE_GUARD := PYTHONPATH=$(CURDIR)/tests/lib $(PYTHON) -m meshlab_testlib

molecule: setup docker-ready test-env-up ## One Molecule scenario: make molecule S=<scenario>
	@test -n "$(S)" || { echo "molecule: name a scenario, e.g. make molecule S=base_image (have: $(SCENARIOS))"; exit 2; }
	@sentinel=$$($(FACT_CACHE_GUARD) sentinel); rc=0; \
	MESHLAB_ISTIO_BASE_URL=$(ARTIFACTS_URL) ANSIBLE_CACHE_PLUGIN_CONNECTION=$$sentinel molecule test -s $(S) || rc=$$?; \
	$(FACT_CACHE_GUARD) check "$$sentinel" "molecule scenario $(S)" || rc=1; exit $$rc

# Every scenario runs even after one failed; each is reported (passed/FAILED, seconds) and the
# target fails when any failed or when SCENARIOS names none.
molecule-all: setup docker-ready test-env-up ## Every Molecule scenario in SCENARIOS, each reported; fails if any failed
	@test -n "$(strip $(SCENARIOS))" || { echo "molecule-all: SCENARIOS is empty: no scenario would run, so this fails" >&2; exit 2; }
	@export MESHLAB_ISTIO_BASE_URL=$(ARTIFACTS_URL); report=(); passed=0; failed=0; \
	for s in $(SCENARIOS); do echo "== molecule test -s $$s"; start=$$SECONDS; sentinel=$$($(FACT_CACHE_GUARD) sentinel); \
	  rc=0; ANSIBLE_CACHE_PLUGIN_CONNECTION=$$sentinel molecule test -s "$$s" || rc=$$?; \
	  $(FACT_CACHE_GUARD) check "$$sentinel" "molecule scenario $$s" || rc=1; \
	  if [ "$$rc" -eq 0 ]; then r=passed; passed=$$((passed + 1)); else r=FAILED; failed=$$((failed + 1)); fi; \
	  report+=("$$(printf '  %-14s %-7s %5ss' "$$s" "$$r" "$$((SECONDS - start))")"); done; \
	printf '== molecule scenarios\n'; printf '%s\n' "$${report[@]}"; \
	echo "molecule-all: $$passed passed, $$failed failed"; test "$$failed" -eq 0

clean: ## Remove build output and the collections link (keeps .venv and cached binaries)
	rm -rf $(CACHE_DIR)/collections $(CACHE_DIR)/dist $(CACHE_DIR)/sanity $(CACHE_DIR)/sanity-core-* tests/output
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

