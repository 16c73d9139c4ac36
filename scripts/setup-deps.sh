#!/usr/bin/env bash
# setup-deps.sh: installs the Debian 12 packages that building, testing and
# benchmarking inferd need, and only those that are missing. Idempotent: a
# machine that has everything is left alone (no apt-get update, no root
# needed). Works without a TTY.
#
# Usage: scripts/setup-deps.sh [--frameworks] [--onnxruntime] [--bench]
#                              [--observability]
#   (none)         build inferd (HTTP + gRPC frontends) and run its tests
#   --frameworks   also the framework backends and their tests: libtorch
#                  (pytorch backend, ~830 MB), OpenCV DNN + onnx + its test
#                  data (onnx backend), and ONNX Runtime (--onnxruntime);
#                  `make test` passes it by default
#   --onnxruntime  ONNX Runtime for the onnxruntime backend. Debian 12 has no
#                  package: the official prebuilt library comes from npm's
#                  onnxruntime-node package (`npm pack`, no install scripts),
#                  checked against the sha512 pinned below, and only
#                  bin/napi-v6/linux/x64/libonnxruntime.so.1 is kept, in
#                  .deps/onnxruntime/<version>/ (git-ignored; CMake looks
#                  there). No network, no npm or another CPU: a warning, and
#                  the backend is not built. A checksum mismatch is an error.
#   --bench        also what bench/ needs (wrk, nginx-light)
#   --observability  test-only: Debian's prometheus, which
#                  tests/e2e/test_metrics.py starts to scrape inferd, and
#                  Debian's chromium driven by npm's playwright-core (pinned
#                  below, installed with no install scripts into the
#                  git-ignored .deps/node/), with which
#                  tests/e2e/test_dashboard.py loads the dashboard at GET /
#                  (each test skips without what it needs). No network or
#                  no npm: a warning, and the dashboard test skips.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

# The pinned ONNX Runtime: npm's integrity value of the package tarball and
# the sha256 of the one file kept from it (to re-check the cache cheaply).
ORT_VERSION=1.30.0
ORT_PACKAGE=onnxruntime-node
ORT_TGZ_SHA512=twhs1C2C/BFkz1yc5OY0KIU2GUq6DURO7hD4bx5Q2Qy3nAMJwRXW8xU3NVczE29VA9lolLOYepoD8fjTGOfIqw==
ORT_LIB_SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
ORT_LIB_MEMBER=package/bin/napi-v6/linux/x64/libonnxruntime.so.1
ORT_DIR="$root/.deps/onnxruntime/$ORT_VERSION"

# The pinned playwright-core (test-only browser driver; the browser itself is
# Debian's chromium, so playwright downloads nothing).
PW_VERSION=1.65.1
PW_DIR="$root/.deps/node"

# Fetches and verifies the runtime into $ORT_DIR. Returns 0 when the verified
# library is there, 1 when it could not be fetched (warning printed), and
# exits on a checksum mismatch.
fetch_onnxruntime() {
  local lib="$ORT_DIR/libonnxruntime.so.1"
  if [[ -f "$lib" ]] &&
    echo "$ORT_LIB_SHA256  $lib" | sha256sum --status -c -; then
    echo "setup-deps: ONNX Runtime $ORT_VERSION present ($lib)"
    return 0
  fi
  if [[ $(uname -m) != x86_64 || $(uname -s) != Linux ]]; then
    echo "setup-deps: warning: ONNX Runtime is fetched for x86-64 Linux" \
      "only; the onnxruntime backend will not be built" >&2
    return 1
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup-deps: warning: npm not found; the onnxruntime backend will" \
      "not be built" >&2
    return 1
  fi
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  echo "setup-deps: fetching $ORT_PACKAGE@$ORT_VERSION with npm pack"
  if ! (cd "$tmp" && npm pack --ignore-scripts --silent \
    --cache "$tmp/npm-cache" "$ORT_PACKAGE@$ORT_VERSION" >/dev/null); then
    echo "setup-deps: warning: npm pack $ORT_PACKAGE@$ORT_VERSION failed" \
      "(no network?); the onnxruntime backend will not be built" >&2
    return 1
  fi
  local tgz="$tmp/$ORT_PACKAGE-$ORT_VERSION.tgz" got
  got=$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)
  if [[ "$got" != "$ORT_TGZ_SHA512" ]]; then
    echo "setup-deps: $ORT_PACKAGE-$ORT_VERSION.tgz: sha512 mismatch:" \
      "expected $ORT_TGZ_SHA512, got $got" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$tmp" "$ORT_LIB_MEMBER"
  if ! echo "$ORT_LIB_SHA256  $tmp/$ORT_LIB_MEMBER" |
    sha256sum --status -c -; then
    echo "setup-deps: $ORT_LIB_MEMBER: sha256 differs from the pinned" \
      "$ORT_LIB_SHA256" >&2
    exit 1
  fi
  mkdir -p "$ORT_DIR"
  install -m 0644 "$tmp/$ORT_LIB_MEMBER" "$lib.part"
  mv -f "$lib.part" "$lib"
  echo "setup-deps: ONNX Runtime $ORT_VERSION verified into $ORT_DIR"
}

# Installs playwright-core into $PW_DIR unless that version is there.
# Returns 1 (warning printed) when npm is missing or the install failed.
fetch_playwright() {
  local pkg="$PW_DIR/node_modules/playwright-core/package.json"
  if [[ -f "$pkg" ]] && grep -q "\"version\": \"$PW_VERSION\"" "$pkg"; then
    echo "setup-deps: playwright-core $PW_VERSION present ($PW_DIR)"
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup-deps: warning: npm not found; the dashboard browser test" \
      "will skip" >&2
    return 1
  fi
  echo "setup-deps: installing playwright-core@$PW_VERSION into $PW_DIR"
  mkdir -p "$PW_DIR"
  if ! npm install --ignore-scripts --no-audit --no-fund --silent \
    --prefix "$PW_DIR" "playwright-core@$PW_VERSION" >/dev/null; then
    echo "setup-deps: warning: npm install playwright-core@$PW_VERSION" \
      "failed (no network?); the dashboard browser test will skip" >&2
    return 1
  fi
}

want_ort=0
want_pw=0
packages=(
  cmake gcc g++ make pkg-config
  libmicrohttpd-dev libjansson-dev libprotobuf-c-dev protobuf-c-compiler
  libgrpc-dev protobuf-compiler protobuf-compiler-grpc
  python3 python3-pytest python3-pytest-timeout python3-requests python3-numpy
  python3-grpcio python3-protobuf
)
for arg in "$@"; do
  case "$arg" in
  --frameworks)
    packages+=(libtorch-dev python3-torch python3-torchvision
      libopencv-dnn-dev python3-onnx libonnx-testdata openssl)
    want_ort=1 ;;
  --onnxruntime)
    packages+=(openssl)
    want_ort=1 ;;
  --bench)
    packages+=(wrk nginx-light) ;;
  --observability)
    packages+=(prometheus chromium)
    want_pw=1 ;;
  *)
    echo "setup-deps.sh: unknown argument '$arg' (expected --frameworks," \
      "--bench, --observability or nothing)" >&2
    exit 2 ;;
  esac
done

# npm may come from a nodejs outside Debian (it bundles npm and conflicts
# with Debian's npm package): ask for the package only when there is none.
if [[ $((want_ort + want_pw)) -gt 0 ]] &&
  ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  if [[ $want_ort -eq 1 ]]; then
    fetch_onnxruntime || true
  fi
  if [[ $want_pw -eq 1 ]]; then
    fetch_playwright || true
  fi
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo -n)
else
  echo "setup-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup-deps: installed ${missing[*]}"
if [[ $want_ort -eq 1 ]]; then
  fetch_onnxruntime || true
fi
if [[ $want_pw -eq 1 ]]; then
  fetch_playwright || true
fi
