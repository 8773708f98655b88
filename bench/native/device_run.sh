#!/usr/bin/env bash
# One device call for the native path: GPU facts, the native test suites, the native benchmark,
# (ANCHORS=1) the PyTorch peers in the same run, and (SANITIZE=1) compute-sanitizer's memcheck,
# racecheck and synccheck over bench/native/sanitizer_workload.ts. Logs go to $OUT (the device tool brings
# them back). Usage on the device: bash .device/boot.sh bash bench/native/device_run.sh
set -o pipefail
out=${OUT:-/tmp/native-out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv \
  > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
if [ "${TESTS:-1}" = 1 ]; then
  timeout "${TEST_TIMEOUT:-300}" node node_modules/.bin/jest ${TEST_PATHS:-test/native} --verbose \
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
if [ "${SANITIZE:-0}" = 1 ]; then
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
  if [ -z "$cs" ]; then
    echo "compute-sanitizer: not found on this machine"
  else
    for tool in ${SANITIZE_TOOLS:-memcheck racecheck synccheck}; do
      timeout "${SANITIZE_TIMEOUT:-150}" "$cs" --tool "$tool" --error-exitcode 9 \
        node dist/bench/native/sanitizer_workload.js ${SANITIZE_VARIANTS:-} \
        > "$out/sanitize_$tool.log" 2>&1
      echo "compute-sanitizer $tool exit $?"
      grep -E "ERROR SUMMARY|RACECHECK SUMMARY|workload done|Error" "$out/sanitize_$tool.log" | head -n 8
    done
  fi
fi
