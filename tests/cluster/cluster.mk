# tests/cluster/cluster.mk: the simulated cluster's targets (docs/simulated-cluster.md).
# Included by the top-level Makefile, which defines CACHE_DIR, PYTHON and `setup`.

CLUSTER_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
include $(CLUSTER_MK_DIR)/versions.env

CACHE_DIR ?= $(CURDIR)/.cache
FLAVOR ?= kubernetes
NODES ?= 2
CLUSTER_ENV = MESHLAB_CACHE_DIR=$(CACHE_DIR) FLAVOR=$(FLAVOR) NODES=$(NODES)
# Extra pytest arguments for test-cluster, e.g. CLUSTER_PYTEST_ARGS='-k openshift'.
CLUSTER_PYTEST_ARGS ?=

.PHONY: cluster-build cluster-up cluster-down cluster-status cluster-kubeconfig \
	artifacts-build artifacts-up artifacts-down artifacts-url test-cluster

cluster-build: ## Build k8s v1.35.4 control plane, kubectl, etcd, kwok(ctl), istioctl into CACHE_DIR/bin
	@MESHLAB_CACHE_DIR=$(CACHE_DIR) $(CLUSTER_MK_DIR)/build.sh

cluster-up: cluster-build ## Start the simulated cluster (FLAVOR=kubernetes|openshift, NODES=2)
	@$(CLUSTER_ENV) $(CLUSTER_MK_DIR)/cluster.sh up

cluster-down: ## Stop the simulated cluster FLAVOR and delete its state
	@$(CLUSTER_ENV) $(CLUSTER_MK_DIR)/cluster.sh down

cluster-status: ## Is the simulated cluster FLAVOR up and healthy?
	@$(CLUSTER_ENV) $(CLUSTER_MK_DIR)/cluster.sh status

cluster-kubeconfig: ## Print the path of the simulated cluster's kubeconfig (FLAVOR=...)
	@$(CLUSTER_ENV) $(CLUSTER_MK_DIR)/cluster.sh kubeconfig

artifacts-build: cluster-build ## Build the Istio release tarball (+ .sha256) served by artifacts-up
	@MESHLAB_CACHE_DIR=$(CACHE_DIR) $(CLUSTER_MK_DIR)/artifacts.sh build

artifacts-up: artifacts-build ## Serve CACHE_DIR/artifacts on http://127.0.0.1:18080 (istio base URL .../istio)
	@MESHLAB_CACHE_DIR=$(CACHE_DIR) $(CLUSTER_MK_DIR)/artifacts.sh up

artifacts-down: ## Stop the local artifact server
	@MESHLAB_CACHE_DIR=$(CACHE_DIR) $(CLUSTER_MK_DIR)/artifacts.sh down

artifacts-url: ## Print the Istio download base URL of the local artifact server
	@MESHLAB_CACHE_DIR=$(CACHE_DIR) $(CLUSTER_MK_DIR)/artifacts.sh url

test-cluster: setup artifacts-build ## Prove the simulated clusters are real (pytest tests/cluster; ~5 min)
	@MESHLAB_CACHE_DIR=$(CACHE_DIR) $(PYTHON) -m pytest $(CLUSTER_MK_DIR) -p no:cacheprovider -v $(CLUSTER_PYTEST_ARGS)
