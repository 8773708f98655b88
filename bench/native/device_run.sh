#!/usr/bin/env bash
# One device call for the native path: GPU facts, the native test suites, the native benchmark,
# and (ANCHORS=1) the PyTorch peers in the same run. Logs go to $OUT (the device tool brings
# them back). Usage on the device: bash .device/boot.sh bash bench/native/device_run.sh
set -o pipefail
out=${OUT:-/tmp/native-out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv \
  > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
if [ "${TESTS:-1}" = 1 ]; then
  timeout "${TEST_TIMEOUT:-300}" node node_modules/.bin/jest test/native --verbose \
    > "$out/tests.log" 2>&1
  echo "jest exit $?"
  grep -E "✓|✕|Tests:|Suites:" "$out/tests.log" | tail -n "${TEST_LINES:-25}"
  grep -B2 -A12 "●.*›" "$out/tests.log" | grep -v "^\s*at " | head -80
fi
if [ "${BENCH:-1}" = 1 ]; then
  timeout "${BENCH_TIMEOUT:-240}" node dist/bench/native/bench.js ${BENCH_ARGS:-} \
    > "$out/bench.log" 2>&1
  echo "bench exit $?"
  tail -n 12 "$out/bench.log"
fi
if [ "${ANCHORS:-0}" = 1 ]; then
  PYTHONUNBUFFERED=1 timeout "${ANCHOR_TIMEOUT:-300}" python3 bench/native/torch_anchors.py \
    ${ANCHOR_CASES:-} > "$out/anchors.log" 2>&1
  echo "anchors exit $?"
  grep -E "^\{|_gna|_na " "$out/anchors.log" | cut -c1-400
fi
