# Everyday commands; each assumes the virtual environment the README sets up in .venv.
PY ?= .venv/bin/python

.PHONY: lint typecheck test test-pg faults

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck:
	$(PY) -m mypy

test:
	$(PY) -m pytest

test-pg:
	BATON_REQUIRE_PG=1 $(PY) -m pytest

faults:
	BATON_REQUIRE_PG=1 $(PY) -m pytest -m faults
