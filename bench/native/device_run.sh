#!/usr/bin/env bash
# One device call for the native path: GPU facts, the native test suites, the native benchmark,
# (ANCHORS=1) the PyTorch peers in the same run, and (SANITIZE=1) compute-sanitizer's memcheck,
# racecheck and synccheck over bench/native/sanitizer_workload.ts, (PROFILE=1) Nsight Compute on one
# forward kernel of bench/native/profile.ts, and (SMI_LOG=1) the SM clock, power and throttle
# reasons sampled every 250 ms over the whole call. Logs go to $OUT (the device tool brings them
# back). Usage on the device: bash .device/boot.sh bash bench/native/device_run.sh
set -o pipefail
out=${OUT:-/tmp/native-out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv \
  > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
if [ "${SMI_LOG:-0}" = 1 ]; then
  fields=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active
  nvidia-smi --query-gpu=$fields --format=csv,noheader -i 0 > /dev/null 2>&1 ||
    fields=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_throttle_reasons.active
  nvidia-smi --query-gpu=$fields --format=csv -lms 250 > "$out/smi.csv" 2>&1 &
  smi_pid=$!
fi
if [ "${TESTS:-1}" = 1 ]; then
  timeout "${TEST_TIMEOUT:-480}" node node_modules/.bin/jest ${TEST_PATHS:-test/native} --verbose \
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
if [ "${PROFILE:-0}" = 1 ]; then
  ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
  if [ -z "$ncu" ]; then
    echo "ncu: not found on this machine"
  else
    # The real clocks (no locking to base), the second launch of the kernel (the first pays for
    # plan uploads and module loading). The report comes back with its details page and the
    # SASS of the kernel with per-instruction counters (warp stall samples, executed instructions).
    timeout "${PROFILE_TIMEOUT:-200}" "$ncu" --kernel-name "regex:${PROFILE_KERNEL:-wgmmaForward}" \
      --launch-skip 1 --launch-count 1 --clock-control none --set "${PROFILE_SET:-full}" \
      --import-source no -f -o "$out/profile" \
      node dist/bench/native/profile.js ${PROFILE_ARGS:-} > "$out/ncu_run.log" 2>&1
    echo "ncu exit $?"
    "$ncu" -i "$out/profile.ncu-rep" --page details --print-details all > "$out/ncu.txt" 2>&1
    "$ncu" -i "$out/profile.ncu-rep" --page source --print-source sass --csv > "$out/ncu_sass.csv" 2>&1
    grep -E "==ERR|==WARNING" "$out/ncu_run.log" | head -n 5
    grep -E "Duration|SM Frequency|Compute \(SM\) Throughput|L2 Cache Throughput|Issued Ipc|Registers Per|Stall|stall" \
      "$out/ncu.txt" | awk '!seen[$0]++' | head -n 40
    wc -l "$out/ncu_sass.csv"
  fi
fi
if [ -n "${smi_pid:-}" ]; then
  kill "$smi_pid"
  # SM clock (MHz) and power (W) over the samples: min, median, max.
  for col in 2 3; do
    awk -F', ' -v c=$col 'NR > 1 && $2 + 0 > 0 { print $c + 0 }' "$out/smi.csv" | sort -n |
      awk -v c=$col '{ x[NR] = $1 } END { if (NR) printf "smi %s: %d samples, min %s, median %s, max %s\n",
        c == 2 ? "SM clock MHz" : "power W", NR, x[1], x[int((NR + 1) / 2)], x[NR] }'
  done
  grep -v -E "0x0000000000000000|Not Active|reasons" "$out/smi.csv" | cut -d, -f5 | sort | uniq -c | head -n 5
fi
