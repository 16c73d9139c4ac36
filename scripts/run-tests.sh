#!/usr/bin/env bash
# run-tests.sh [--asan|--tsan] BUILD_DIR: runs the unit tests (ctest) and the
# end-to-end tests (pytest, tests/e2e) against the inferd binary and backends
# of one build directory. With --asan the sanitizer options are set so that
# any ASan/UBSan report fails the run, and LeakSanitizer is enabled when it
# works on this machine (it does not under ptrace, e.g. in some containers).
# With --tsan (a ThreadSanitizer build, see `make tsan`) only the threaded
# tests run: the scheduler unit tests and the model lifecycle end-to-end
# tests (tests/e2e/test_lifecycle_*.py, without those marked slow), the
# server halting on the first report, which fails the test. The gRPC
# frontend is left off there: Debian's libgrpc is not instrumented and TSan
# reports races inside it that are not ours.
set -euo pipefail

asan=0
tsan=0
if [[ "${1:-}" == "--asan" ]]; then
  asan=1
  shift
elif [[ "${1:-}" == "--tsan" ]]; then
  tsan=1
  shift
fi
if [[ $# -ne 1 || ! -d "$1" ]]; then
  echo "usage: $0 [--asan|--tsan] BUILD_DIR (an existing, built CMake build directory)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
python=/usr/bin/python3

if [[ $asan -eq 1 ]]; then
  leaks=0
  probe=$(mktemp -d)
  trap 'rm -rf "$probe"' EXIT
  printf 'int main(void) { return 0; }\n' >"$probe/p.c"
  if cc -fsanitize=address "$probe/p.c" -o "$probe/p" 2>/dev/null &&
    ASAN_OPTIONS=detect_leaks=1 "$probe/p" >/dev/null 2>&1; then
    leaks=1
  else
    echo "run-tests: LeakSanitizer does not work here; leak detection off"
  fi
  export ASAN_OPTIONS="detect_leaks=${leaks}:halt_on_error=1:abort_on_error=0:strict_string_checks=1"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  echo "run-tests: ASAN_OPTIONS=$ASAN_OPTIONS"
fi

if [[ $tsan -eq 1 ]]; then
  export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}halt_on_error=1:second_deadlock_stack=1"
  echo "run-tests: TSAN_OPTIONS=$TSAN_OPTIONS"
  echo "== unit tests under TSan ($build, schedulers and lifecycle)"
  ctest --test-dir "$build" --output-on-failure --no-tests=error \
    --timeout 300 -R '^(sched|repository)/'
  echo "== lifecycle end-to-end tests under TSan ($build/inferd)"
  export INFERD_BIN="$build/inferd"
  export INFERD_BACKEND_DIR="$build/backends"
  export INFERD_E2E_GRPC=0
  export INFERD_START_TIMEOUT="${INFERD_START_TIMEOUT:-60}"
  export PYTHONDONTWRITEBYTECODE=1
  cd "$root/tests/e2e"
  "$python" -m pytest -p no:cacheprovider -q -ra -m "not slow" \
    --ignore=test_lifecycle_grpc.py test_lifecycle_*.py test_many_models.py
  exit 0
fi

echo "== unit tests ($build)"
ctest --test-dir "$build" --output-on-failure --no-tests=error -j2 \
  --timeout 300

echo "== end-to-end tests ($build/inferd)"
export INFERD_BIN="$build/inferd"
export INFERD_BACKEND_DIR="$build/backends"
export PYTHONDONTWRITEBYTECODE=1
cd "$root/tests/e2e"
# pytest exits 5 when it collected no tests: that is a failure here too.
"$python" -m pytest -p no:cacheprovider -q -ra
