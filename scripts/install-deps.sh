#!/bin/sh
# Installs the Debian packages effvit needs to build, test and run its demo.
# Idempotent: asks apt only for packages that are not installed yet.
# fonts-wqy-microhei: glyphs for Chinese (and Japanese, Korean) labels on `classify --render`'s
# contact sheet, which Pango takes from it character by character; its tests check them.
set -eu

PACKAGES="
build-essential cmake pkg-config
libonnx-dev libprotobuf-dev protobuf-compiler
libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
libspng-dev libturbojpeg0-dev zlib1g-dev libwebp-dev libstb-dev
libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libcairo2-dev libpango1.0-dev
fonts-wqy-microhei
libgtest-dev libgmock-dev libbenchmark-dev time
python3-torch python3-onnx python3-numpy python3-opencv python3-pil
pybind11-dev python3-dev python3-pytest python3-requests python3-yaml libcpp-httplib-dev hey wrk
libgrpc++-dev protobuf-compiler-grpc python3-grpcio
dataset-fashion-mnist
clang libclang-rt-14-dev libomp-dev
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  exit 0
fi

echo "install-deps: installing$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
