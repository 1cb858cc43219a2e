#!/bin/sh
# `cmake --install` gives a C++ user a working find_package(effvit): examples/consumer, configured
# against the installed tree only, builds, links (the static library's private dependencies must
# come through the package config) and computes what the installed CLI computes on the bundled model.
#
#   install_consumer.sh EFFVIT_BINARY WORKDIR BUILD_DIR   (CMAKE: the cmake to use)
. "$(dirname "$0")/cli_lib.sh"
build=$3
cmake=${CMAKE:-cmake}
model=$testdir/../models/efficientvit_m0_fashion_mnist.onnx
work=$PWD
rm -rf prefix consumer
trap 'cd / && rm -rf "$work"' EXIT

"$cmake" --install "$build" --prefix "$PWD/prefix" >/dev/null
# lib/cmake/effvit, or lib/<multiarch>/cmake/effvit when configured for /usr on Debian.
config=$(find prefix -path '*/cmake/effvit/effvitConfig.cmake')
for f in "$config" "$(dirname "$config")/effvitConfigVersion.cmake" prefix/include/effvit/effvit.h prefix/bin/effvit; do
    [ -f "$f" ] || { echo "not installed: '$f'" >&2; exit 1; }
done
"$cmake" -S "$testdir/../examples/consumer" -B consumer -DCMAKE_PREFIX_PATH="$PWD/prefix" >consumer.log 2>&1 \
    || { cat consumer.log >&2; exit 1; }
"$cmake" --build consumer -j1 >>consumer.log 2>&1 || { cat consumer.log >&2; exit 1; }
# The include path must be the installed one, not the source tree's.
grep -q -- "-I$PWD/prefix/include\|-isystem $PWD/prefix/include" consumer/CMakeFiles/effvit_consumer.dir/flags.make \
    || { echo "consumer not compiled against prefix/include:" >&2; grep INCLUDES consumer/CMakeFiles/effvit_consumer.dir/flags.make >&2; exit 1; }

consumer/effvit_consumer "$model" >out.txt
grep -Eq '^output \[1,10\] argmax [0-9]$' out.txt || { echo "unexpected output:" >&2; cat out.txt >&2; exit 1; }
# The same constant input through the installed CLI must pick the same class.
"$python" -c "import numpy as np; np.save('grey.npy', np.full((1, 3, 224, 224), 0.5, np.float32))"
prefix/bin/effvit run "$model" -i grey.npy -o logits.npy >/dev/null
want=$("$python" -c "import numpy as np; print(int(np.load('logits.npy').argmax()))")
grep -q "argmax $want\$" out.txt || { echo "consumer: $(cat out.txt); CLI argmax $want" >&2; exit 1; }
echo "ok: $(cat out.txt)"

expect_error "missing.onnx: file not found" consumer/effvit_consumer missing.onnx
finish
