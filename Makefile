# Gristmill. On a fresh machine: `make demo` runs the lifecycle end to end, `make test` runs the tests.
PY := .venv/bin/python
export GRISTMILL_CACHE ?= $(HOME)/.cache/gristmill

.PHONY: install protos protos-check lint test test-fast demo up down status pipelines bench clean

install: .venv/.installed

.venv/.installed: pyproject.toml requirements.lock scripts/bootstrap.sh
	bash scripts/bootstrap.sh

protos: install
	$(PY) scripts/gen_protos.py

protos-check: install
	$(PY) scripts/gen_protos.py --check

lint: install protos-check
	.venv/bin/ruff check services pipelines tests bench scripts examples
	$(PY) -m pipelines.compile --check
	$(PY) scripts/schema.py --check

kafka-jars: install
	$(PY) -m services.common.kafka_local fetch

test: install kafka-jars
	bash scripts/ensure-postgres.sh
	$(MAKE) lint
	$(PY) -m pytest -q -p no:cacheprovider

demo: install kafka-jars
	.venv/bin/gristmill demo

up: install kafka-jars
	.venv/bin/gristmill up

down:
	.venv/bin/gristmill down

status:
	.venv/bin/gristmill status

lock:  ## re-resolve after editing pyproject.toml; commit the two .lock files
	bash scripts/bootstrap.sh --lock

pipelines: install
	$(PY) -m pipelines.compile

bench: install kafka-jars
	$(PY) bench/data_half.py

clean:
	rm -rf .gristmill local_outputs
