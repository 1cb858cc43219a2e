# Two set-up commands: `make demo` and `make test`. Everything else is a building block.
BUILD ?= build
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3

.PHONY: deps build test demo install sanitize tsan fuzz clean

deps:
	./scripts/install-deps.sh

# Configure every time (cheap, idempotent): a configure that failed before dependencies were
# installed must not leave a stale cache that skips it.
build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Library, headers, CLI, CMake package and the Python module (for /usr/bin/python3) under /usr/local.
install: build
	cmake --install $(BUILD)

# Tables and contact sheet go to $(BUILD)/demo; RESULTS=docs records them in the tree.
RESULTS ?= $(BUILD)/demo
demo: build
	./scripts/demo.sh $(BUILD) $(RESULTS)

# The whole suite under AddressSanitizer + UBSan (separate tree; slower build). Without the Python
# module: an instrumented extension needs the sanitizer runtime preloaded into the interpreter.
sanitize: deps
	cmake -S . -B $(BUILD)-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEFFVIT_BENCH=OFF -DEFFVIT_PYTHON=OFF \
	  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
	cmake --build $(BUILD)-sanitize -j $(JOBS)
	cd $(BUILD)-sanitize && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer over the concurrency tests (Sessions sharing one Model across std::threads, first
# runs of new shapes at the same time) and two streams of the bundled model, in a separate tree.
# One OpenMP thread per Session: Debian's libgomp is not instrumented, so TSan cannot see OpenMP's
# own barriers and reports every parallel region (--threads N > 1) as a race. oneDNN's primitive
# cache is off for the same reason: two threads creating the same primitive meet in it, and the
# std::promise it hands the second one over is synchronised inside uninstrumented libraries (TSan
# then reports oneDNN comparing cache keys another thread wrote).
tsan: deps
	cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEFFVIT_BENCH=OFF -DEFFVIT_PYTHON=OFF -DCMAKE_CXX_FLAGS="-fsanitize=thread"
	cmake --build $(BUILD)-tsan -j $(JOBS) --target effvit_unit_tests effvit-cli
	OMP_NUM_THREADS=1 ONEDNN_PRIMITIVE_CACHE_CAPACITY=0 TSAN_OPTIONS="halt_on_error=1" $(BUILD)-tsan/tests/effvit_unit_tests \
	  --gtest_filter='Session.*:Plan.*:KernelTables.*:-Plan.TwoThreadsGiveTheSameResults'
	OMP_NUM_THREADS=1 ONEDNN_PRIMITIVE_CACHE_CAPACITY=0 TSAN_OPTIONS="halt_on_error=1" \
	  $(BUILD)-tsan/effvit bench models/efficientvit_m0_fashion_mnist.onnx --streams 2 --iters 5 --warmup 1

# libFuzzer over every parser that takes outside bytes (fuzz/): a separate clang tree with ASan and
# UBSan, each harness for SECONDS on its seed corpus and dictionary (niced: idle CPU only), then the
# corpus minimised (-merge=1) back into fuzz/corpus/. Crashes are left in $(BUILD)-fuzz/artifacts/.
SECONDS ?= 60
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEFFVIT_FUZZ=ON \
	  -DEFFVIT_TESTS=OFF -DEFFVIT_BENCH=OFF -DEFFVIT_PYTHON=OFF \
	  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	nice -n 19 cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzzers
	./fuzz/run.sh $(BUILD)-fuzz $(SECONDS)

clean:
	rm -rf $(BUILD) $(BUILD)-sanitize $(BUILD)-tsan $(BUILD)-fuzz
