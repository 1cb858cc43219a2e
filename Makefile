# Two set-up commands: `make demo` and `make test`. Everything else is a building block.
BUILD ?= build
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3

.PHONY: deps build test demo clean

deps:
	./scripts/install-deps.sh

# Configure every time (cheap, idempotent): a configure that failed before dependencies were
# installed must not leave a stale cache that skips it.
build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	./scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)
