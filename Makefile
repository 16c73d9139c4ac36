# Makefile: a thin wrapper over CMake and the test scripts.
#   make run    build and serve examples/model_repository on port 8000
#   make test   unit + end-to-end tests, plain build and ASan+UBSan build
#   make build | asan | bench | clean | format
# The build directories are build/ (plain) and build-asan/ (sanitizers).

BUILD_DIR := build
ASAN_DIR := build-asan
JOBS ?= 2
ARGS ?=
# make test also installs the framework backends' packages (libtorch, OpenCV
# DNN, onnx) so that those backends are built and tested; FRAMEWORKS=0 skips
# them (their backends then skip themselves and their tests are skipped).
FRAMEWORKS ?= 1

# Targets run one after the other even under make -j: each already builds
# with $(JOBS) jobs, and the test suites must not compete for the cores.
.NOTPARALLEL:
.PHONY: all deps deps-test deps-bench build asan run test test-build \
        test-asan bench clean format

all: build

deps:
	@scripts/setup-deps.sh

deps-test:
	@scripts/setup-deps.sh $(if $(filter 1,$(FRAMEWORKS)),--frameworks)

deps-bench:
	@scripts/setup-deps.sh --bench

build: deps
	cmake -S . -B $(BUILD_DIR) -DINFERD_WERROR=ON
	cmake --build $(BUILD_DIR) -j$(JOBS)

asan: deps
	cmake -S . -B $(ASAN_DIR) -DINFERD_WERROR=ON -DINFERD_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j$(JOBS)

run: build
	$(BUILD_DIR)/inferd --model-repository=examples/model_repository $(ARGS)

test: deps-test test-build test-asan

test-build: build
	scripts/run-tests.sh $(BUILD_DIR)

test-asan: asan
	scripts/run-tests.sh --asan $(ASAN_DIR)

bench: deps-bench build
	bench/http_vs_nginx.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)

format:
	git ls-files -- '*.c' '*.h' | xargs clang-format -i
