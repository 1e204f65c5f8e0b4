# harbor-deploy: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYINFRA := $(VENV)/bin/pyinfra
export LAB_CLIENTS ?= 2

.PHONY: deps system-deps venv lab-up lab-down lab-status demo test test-unit test-lab

# What a fresh Debian machine lacks: docker engine, debootstrap, a Python venv.
deps: system-deps venv

system-deps:
	@missing=""; \
	for tool in dockerd:docker.io debootstrap:debootstrap ssh-keygen:openssh-client; do \
	  command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

lab-up: deps
	$(PY) -m lab.labctl up

lab-down: venv
	$(PY) -m lab.labctl down

lab-status: venv
	$(PY) -m lab.labctl status

demo: lab-up
	$(PYINFRA) -y inventories/lab.py deploys/lab_check.py

test-unit: venv
	$(PY) -m pytest -q tests/unit

test-lab: lab-up
	$(PY) -m pytest -q tests/lab

# Unit tests, then the end-to-end tests on the lab's real hosts, in one run
# (the client tests need three clients).
test demo: export LAB_CLIENTS := $(or $(filter-out 1 2,$(LAB_CLIENTS)),3)
test: lab-up
	$(PY) -m pytest -q tests/unit tests/lab
