# harbor-deploy: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYINFRA := $(VENV)/bin/pyinfra
export LAB_CLIENTS ?= 2

.PHONY: deps system-deps venv lab-up lab-down lab-status demo lint test test-quick test-unit test-lab test-faults bench

# What a fresh Debian machine lacks: docker engine, debootstrap, a Python venv, and
# PostgreSQL 15, Redis and slapd (an LDAP server) for the unit tests (which start
# servers of their own).
deps: system-deps venv

# The database servers are installed as programs only, never left running: a
# policy-rc.d denies every service start while apt runs, postgresql-common is told
# to create no "main" cluster (set before PostgreSQL itself is installed, as the
# official postgres image does), and on a systemd machine the redis-server unit
# this installed is disabled so it does not start at boot. What was already
# installed is left as it is.
SYSTEM_TOOLS := dockerd:docker.io debootstrap:debootstrap ssh-keygen:openssh-client \
	/usr/lib/postgresql/15/bin/initdb:postgresql-15 redis-server:redis-server /usr/sbin/slapd:slapd
system-deps:
	@missing=""; \
	for tool in $(SYSTEM_TOOLS); do \
	  command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  policy=/usr/sbin/policy-rc.d; own_policy=""; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod 755 $$policy; own_policy=1; fi; \
	  apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$$@" >/dev/null; }; \
	  apt-get update -qq \
	  && if echo "$$missing" | grep -q postgresql && ! dpkg -s postgresql-common >/dev/null 2>&1; then \
	       apt_install postgresql-common \
	       && sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' \
	            /etc/postgresql-common/createcluster.conf; \
	     fi \
	  && apt_install $$missing; status=$$?; \
	  [ -n "$$own_policy" ] && rm -f $$policy; \
	  if echo "$$missing" | grep -q redis-server && [ -d /run/systemd/system ]; then \
	    systemctl disable --now redis-server.service >/dev/null 2>&1; \
	  fi; \
	  if echo "$$missing" | grep -q slapd && [ -d /run/systemd/system ]; then \
	    systemctl disable --now slapd.service >/dev/null 2>&1; \
	  fi; \
	  exit $$status; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

lab-up: deps
	$(PY) -m lab.labctl up

lab-down: venv
	$(PY) -m lab.labctl down

lab-status: venv
	$(PY) -m lab.labctl status

# The whole job on the lab: reach every host, install Harbor, configure it (project
# demo + robot ci), then every client trusts it, logs in as the robot, pushes and pulls.
demo: lab-up
	$(PYINFRA) -y inventories/lab.py deploys/lab_check.py
	$(PYINFRA) -y inventories/lab.py deploys/server.py
	$(PYINFRA) -y inventories/lab.py deploys/configure.py
	$(PYINFRA) -y inventories/lab.py deploys/client.py \
	    --data harbor_client_smoke_test=true --data harbor_client_smoke_project=demo
	$(PY) -m lab.demo_summary

# Every case against the floor of reaching the same hosts, on a lab it sizes itself
# (up to 20 clients); prints a table, writes bench/results.json and bench/results.png.
# Measures, asserts nothing.
bench: deps
	$(PY) -m lab.bench

# ruff (lint and format) and mypy, configured in pyproject.toml; `make test` runs it first.
LINTED := harbor_deploy facts deploys inventories lab tests examples
lint: venv
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

test-unit: system-deps venv
	$(PY) -m pytest -q tests/unit lab/standin/tests/unit

# The fault, recovery and load scenarios alone (docs/guarantees.md), each in its lane.
FAULT_TESTS := tests/lab/test_52_faults.py tests/lab/test_54_recovery.py tests/lab/test_56_configure_cut.py \
	tests/lab/test_58_load.py
test-faults: deps
	$(PY) -m tests.lanes $(FAULT_TESTS)

# Lab test files of your choice, each run in its lane: make test-lab FILES="tests/lab/test_30_client.py"
test-lab: deps
	$(PY) -m tests.lanes $(FILES)

# Unit tests and the lab tests, in lanes that run side by side, each on a lab of its
# own (tests/lanes.py: prefixes hd-test*, their own containers, networks, volumes,
# state and mirror ports), so the lab `make demo` left and anything else on the
# machine are never touched; ends with the slowest tests.
test: lint system-deps
	$(PY) -m tests.lanes

# Day to day: lint, the unit tests and one lab smoke on fresh hosts (a few minutes).
test-quick: lint system-deps
	$(PY) -m tests.lanes --quick
