#!/bin/sh
# Runs every fuzz harness of a `make fuzz` tree for SECONDS each, one after the other, on its seed
# corpus (fuzz/corpus/NAME) with its dictionary (fuzz/NAME.dict), niced; then minimises what it found
# plus the seeds back into fuzz/corpus/NAME (-merge=1). Crash, leak and timeout inputs go to
# BUILD/artifacts/NAME/; the script fails if any appeared. FUZZ_TIMEOUT (seconds, default 10) is
# the wall-clock time one input may take: niced, a fuzzer on a busy machine may need more.
#   fuzz/run.sh BUILD SECONDS [NAME...]
set -eu
build=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
names=${*:-"onnx_model image npy idx quant_config v2_request"}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export OMP_NUM_THREADS=1
failed=""
for name in $names; do
  bin=$build/fuzz/${name}_fuzzer
  work=$build/corpus/$name
  artifacts=$build/artifacts/$name
  mkdir -p "$work" "$artifacts"
  echo "== $name: ${seconds}s"
  # New inputs go to the work folder (first); the seeds are read only.
  nice -n 19 "$bin" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout="${FUZZ_TIMEOUT:-10}" -max_len=65536 \
    -dict="$here/$name.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "$work" "$here/corpus/$name" 2>&1 | tee "$build/$name.log" | grep -E "^#[0-9]+ +(INITED|DONE)|^stat::|ERROR|SUMMARY" || true
  if ls "$artifacts" | grep -q .; then
    echo "$name: inputs that failed are in $artifacts" >&2
    failed="$failed $name"
  fi
  # Minimise the seeds and everything found into a fresh folder, which replaces the tree's corpus:
  # by edges only (-use_counters=0), so the corpus kept in the tree stays small; the full one stays
  # in BUILD/corpus/NAME for the next run.
  merged=$build/merged/$name
  rm -rf "$merged"
  mkdir -p "$merged"
  nice -n 19 "$bin" -merge=1 -use_counters=0 -rss_limit_mb=4096 -timeout=10 -max_len=65536 -artifact_prefix="$artifacts/" \
    "$merged" "$here/corpus/$name" "$work" >"$build/$name.merge.log" 2>&1
  if ls "$merged" | grep -q .; then
    rm -rf "$here/corpus/$name"
    cp -r "$merged" "$here/corpus/$name"
  fi
  echo "$name: corpus $(ls "$here/corpus/$name" | wc -l) files, $(cat "$here/corpus/$name"/* | wc -c) bytes"
done
if [ -n "$failed" ]; then
  echo "fuzz: failures in:$failed" >&2
  exit 1
fi
