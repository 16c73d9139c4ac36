#!/usr/bin/env bash
# setup-deps.sh: installs the Debian 12 packages that building, testing and
# benchmarking inferd need, and only those that are missing. Idempotent: a
# machine that has everything is left alone (no apt-get update, no root
# needed). Works without a TTY.
#
# Usage: scripts/setup-deps.sh [--frameworks] [--bench]
#   (none)        build inferd (HTTP + gRPC frontends) and run its tests
#   --frameworks  also the framework backends and their tests: libtorch
#                 (pytorch backend, ~830 MB), OpenCV DNN + onnx + its test
#                 data (onnx backend); `make test` passes it by default
#   --bench       also what bench/ needs (wrk, nginx-light)
set -euo pipefail

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
      libopencv-dnn-dev python3-onnx libonnx-testdata) ;;
  --bench)
    packages+=(wrk nginx-light) ;;
  *)
    echo "setup-deps.sh: unknown argument '$arg' (expected --frameworks," \
      "--bench or nothing)" >&2
    exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup-deps: all ${#packages[@]} packages present"
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
