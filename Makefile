# facepair: two commands from a fresh machine — `make serve` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core (npm), which the browser tests run on every view of the web app
AXE_VERSION := 4.11.1
AXE := $(VENV)/axe-core/axe.min.js
export OMP_WAIT_POLICY ?= PASSIVE
# the data sets (LFW, ORL, cfp-dev) that tests, benchmarks and training read
export FACEPAIR_DATA_DIR ?= $(abspath ../shared/data)
# TORCH_INDEX: a wheel index for torch (the Dockerfile's CPU image uses PyTorch's CPU-only one)
# GPU=1: search with faiss-gpu instead of faiss-cpu

.PHONY: install system-deps serve test docs lint bench-detect bench-gallery bench-train clean

install: $(STAMP) $(AXE)

# The stamp is written last, so an interrupted install is redone on the next run.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) \
		torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/pip install --quiet --no-deps facenet-pytorch==2.6.0
	if [ "$(GPU)" = "1" ]; then $(BIN)/pip uninstall --quiet -y faiss-cpu && \
		$(BIN)/pip install --quiet 'faiss-gpu-cu12>=1.8'; fi
	touch $(STAMP)

$(AXE):
	mkdir -p $(VENV)/axe-core
	cd $(VENV)/axe-core && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && \
		tar xzf axe-core-$(AXE_VERSION).tgz --strip-components=1 package/axe.min.js \
		package/LICENSE && rm axe-core-$(AXE_VERSION).tgz

# Debian packages the tests drive: headless Chromium for the web page, exiftool for XMP sidecars,
# npm for axe-core (fetched by `make install`),
# PostgreSQL's server (the tests start a throwaway cluster of their own; no service is used).
system-deps:
	@need=""; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	command -v chromedriver >/dev/null || need="$$need chromium-driver"; \
	command -v exiftool >/dev/null || need="$$need libimage-exiftool-perl"; \
	command -v heif-enc >/dev/null || need="$$need libheif-examples"; \
	command -v npm >/dev/null || need="$$need npm"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	if [ -n "$$need" ]; then \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
		($$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$need) \
		|| { echo "could not install$$need: the tests that need them skip (and fail under CI)"; \
		     [ -z "$$CI" ] || exit 1; }; \
	fi

serve: $(STAMP)
	$(BIN)/facepair serve

test: $(STAMP) $(AXE)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q tests

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench-detect: $(STAMP)
	$(BIN)/python -m bench.detect_align

bench-gallery: $(STAMP)
	$(BIN)/python -m bench.open_set
	$(BIN)/python -m bench.identify_latency
	$(BIN)/python -m bench.search

bench-train: $(STAMP)
	$(BIN)/python -m bench.train_speed --data $(or $(DATA),var/prepared/lfw-devtrain)

clean:
	rm -rf $(VENV)
