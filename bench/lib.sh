# Shared by the bench scripts (sourced): medians of side-by-side rounds and the hardware they ran on.

# median: the middle of the numbers on stdin.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# effvit_latency EFFVIT MODEL THREADS ITERS: median milliseconds of one `effvit bench` run, at
# EFFVIT_PRECISION (fp32, bf16 or auto; default fp32).
effvit_latency() {
    "$1" bench "$2" --threads "$3" --iters "$4" --warmup 5 --precision "${EFFVIT_PRECISION:-fp32}" --json |
        awk '$1 == "\"median\":" { sub(/,$/, "", $2); print $2; exit }'
}

# effvit_hardware EFFVIT MODEL: "avx512_vnni on AMD EPYC (family 25, model 17)".
effvit_hardware() {
    "$1" info "$2" --json | awk -F'"' '$2 == "isa" { isa = $4 } $2 == "cpu" { cpu = $4 } END { print isa " on " cpu }'
}

# effvit_precision EFFVIT MODEL: what effvit runs MODEL in at EFFVIT_PRECISION ("int8" for a
# quantized model whatever was asked).
effvit_precision() {
    "$1" info "$2" --json --precision "${EFFVIT_PRECISION:-fp32}" | awk -F'"' '$2 == "precision" { print $4; exit }'
}
