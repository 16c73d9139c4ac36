# Makefile: a thin wrapper over CMake and the test scripts.
#   make run    build and serve examples/model_repository on port 8000
#   make test   unit + end-to-end tests, plain build and ASan+UBSan build,
#               and the scheduler and model lifecycle tests under
#               ThreadSanitizer
#   make build | asan | tsan | bench | clean | format
# The build directories are build/ (plain), build-asan/ (ASan+UBSan) and
# build-tsan/ (TSan: scheduler unit tests, and the inferd binary for the
# model lifecycle end-to-end tests).

BUILD_DIR := build
ASAN_DIR := build-asan
TSAN_DIR := build-tsan
JOBS ?= 2
ARGS ?=
# make test also installs the framework backends' packages (libtorch, OpenCV
# DNN, onnx) so that those backends are built and tested; FRAMEWORKS=0 skips
# them (their backends then skip themselves and their tests are skipped).
FRAMEWORKS ?= 1

# Targets run one after the other even under make -j: each already builds
# with $(JOBS) jobs, and the test suites must not compete for the cores.
.NOTPARALLEL:
.PHONY: all deps deps-test deps-bench build asan tsan run test test-build \
        test-asan test-tsan bench clean format

all: build

deps:
	@scripts/setup-deps.sh

deps-test:
	@scripts/setup-deps.sh --observability $(if $(filter 1,$(FRAMEWORKS)),--frameworks)

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

test: deps-test test-build test-asan test-tsan

test-build: build
	scripts/run-tests.sh $(BUILD_DIR)

test-asan: asan
	scripts/run-tests.sh --asan $(ASAN_DIR)

# Under ThreadSanitizer: the schedulers (queues, batcher, instance threads),
# driven by the scheduler unit tests through the embedding API, and the
# model lifecycle (repository thread, reload and unload under traffic, poll
# mode), driven by tests/e2e/test_lifecycle_*.py against a TSan inferd
# (run-tests.sh --tsan: HTTP only, tests marked slow deselected).
tsan: deps
	cmake -S . -B $(TSAN_DIR) -DINFERD_WERROR=ON -DINFERD_TSAN=ON
	cmake --build $(TSAN_DIR) -j$(JOBS) --target sched_test_dynamic_batcher \
	  sched_test_idle_threads sched_test_idle_race \
	  repository_test_lifecycle_race repository_test_many_models \
	  repository_test_versions \
	  inferd inferd_testing inferd_add_sub inferd_identity

test-tsan: tsan
	scripts/run-tests.sh --tsan $(TSAN_DIR)

bench: deps-bench build
	bench/http_vs_nginx.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)

format:
	git ls-files -- '*.c' '*.h' | xargs clang-format -i
