#!/usr/bin/env bash
# One call on a GPU machine without a package index (Python 3.12 with its own CUDA torch), for
# example the device tool of this workplace:
#   here:  make gpu-bundle            (wheels for Python 3.12 and the data, in build/gpu-bundle)
#   there: bash .ci/gpu_session.sh    (carry build/gpu-bundle; under 10 minutes)
# It installs only what the image lacks (never torch), runs `make gpu-check` and puts the report
# and logs into $OUT (or build/gpu-out when OUT is unset).
set -uo pipefail
cd "$(dirname "$0")/.."
BUNDLE=build/gpu-bundle
OUT=${OUT:-build/gpu-out}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
[ -d "$BUNDLE/wheels" ] || { echo "gpu_session: $BUNDLE/wheels is missing: run make gpu-bundle first" >&2; exit 2; }
nvidia-smi -L || true
if [ -f "$BUNDLE/data.tar.gz" ] && [ -z "${COURSE_DATA_DIR:-}" ]; then
    mkdir -p /tmp/course-data && tar -xzf "$BUNDLE/data.tar.gz" -C /tmp/course-data
    export COURSE_DATA_DIR=/tmp/course-data
fi
export PIP_FIND_LINKS=$PWD/$BUNDLE/wheels PYTHONUNBUFFERED=1
make gpu-check USE_SYSTEM_TORCH=1 PYTHON="$PYTHON" BENCH_ARGS="${BENCH_ARGS:---repeats 2}" 2>&1 | tee "$OUT/gpu-check.log"
status=${PIPESTATUS[0]}
cp build/gpu-report.md build/gpu-test.log "$OUT"/ 2>/dev/null
tar -czf "$OUT/results.tar.gz" build/results build/gpu-junit.xml build/gpu-bench_*.log 2>/dev/null
exit "$status"
