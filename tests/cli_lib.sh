# Shared by the CLI test scripts, sourced as `. cli_lib.sh "$@"` with EFFVIT_BINARY WORKDIR as
# arguments: sets $effvit, $python, $pydir, $testdir, enters the work directory, and provides
# expect_error / finish.
set -eu
effvit=$1
python=${PYTHON:-/usr/bin/python3}
testdir=$(cd "$(dirname "$0")" && pwd)
pydir=$(cd "$testdir/../python" && pwd)
mkdir -p "$2"
cd "$2"

failures=0
# expect_error NEEDLE CMD...: CMD must exit with status 1 and print exactly one stderr line
# (progress-bar lines aside) containing NEEDLE.
expect_error() {
    needle=$1
    shift
    set +e
    "$@" >out.txt 2>err.txt
    status=$?
    set -e
    msg=$(grep -v '^\[' err.txt || true)
    if [ "$status" -ne 1 ] || [ "$(printf '%s\n' "$msg" | wc -l)" -ne 1 ] || ! printf '%s' "$msg" | grep -qF -- "$needle"; then
        echo "FAIL: $* -> status $status, expected one error line containing '$needle':" >&2
        cat err.txt >&2
        failures=$((failures + 1))
    else
        echo "ok: $msg"
    fi
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
    fi
}
