# The two commands a new user runs: `make demo` and `make test`.
# Everything installs into .venv through setup.cfg; nothing is installed by hand.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo

.PHONY: demo test lint install preflight clean clean-demo bench mutation

# Fail early, with the fix, when the machine lacks what opencv-contrib needs.
preflight:
	@command -v $(PYTHON) >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || \
	  { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	@ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || [ -e /usr/lib/x86_64-linux-gnu/libGL.so.1 ] || \
	  { echo "error: libGL.so.1 is missing; opencv-contrib-python (required by mediapipe) needs it."; \
	    echo "       Debian/Ubuntu: sudo apt-get install -y libgl1"; exit 1; }

$(STAMP): setup.cfg pyproject.toml | preflight
	@PY=$$(command -v $(PYTHON) || command -v python3); \
	  $$PY -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "error: $$PY is not Python 3.11 (the pinned TensorFlow/MediaPipe set needs 3.11)"; exit 1; }; \
	  [ -x $(BIN)/python ] || $$PY -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,ray]'
	@touch $(STAMP)

install: $(STAMP)

# Sample CASME II-format data -> merprep extract -> mertrain run (LOSO) -> UF1/UAR/ACC table.
demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/merprep sample --dataset casme2 --out $(DEMO)/casme2 --subjects 4 --clips-per-subject 6 --seed 0
	$(BIN)/merprep extract --dataset casme2 --root $(DEMO)/casme2 --out $(DEMO)/casme2.h5 --frames 10 --size 64
	$(BIN)/merprep info $(DEMO)/casme2.h5
	$(BIN)/merprep validate $(DEMO)/casme2.h5
	$(BIN)/mertrain run $(DEMO)/casme2.h5 --task 3class --frames 10 --size 64 --epochs 30 --out $(DEMO)/run

# Lint, format and type checks first (seconds), then the suite.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The suite on TEST_WORKERS processes (2: what CI has); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/python -m pytest -q -x --timeout=900 -n $(TEST_WORKERS) --dist loadfile tests

# Mutation testing of the core modules (about 40-60 min on 2 cores; docs/reliability.md has the
# last scores). Not part of `make test`: it runs in a copy of the tree under $$TMPDIR (default
# /tmp) and writes its report there, merprep-mutation/report.md.
mutation: $(STAMP)
	$(BIN)/python tools/mutation.py

bench: $(STAMP)
	@echo "Benchmarks live in benchmarks/; see docs/benchmarks.md for the commands."

clean-demo:
	rm -rf $(DEMO)

clean: clean-demo
	rm -rf $(VENV) *.egg-info .pytest_cache
