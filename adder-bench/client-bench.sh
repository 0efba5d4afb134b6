#!/usr/bin/env bash
# Adder's client under concurrent callers, against Adder's daemon, on this machine.
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs (it builds nothing)
#   adder-bench/client-bench.sh [--seconds S] [--runs N] [--yardstick DIR]
#
# The daemon (recommended flags) is pinned to core 0, the calling program to core 1. Each shape
# runs N times; printed: the median of requests/s and of p50/p99 call latency. The calling program
# runs on $CLIENT_JAVA (default: a Java 21+ JDK under /usr/lib/jvm, for virtual threads; else java).
# With --yardstick DIR holding the C `load` (make -C ../shared/yardstick O=$PWD/target/yardstick),
# the C load at the same concurrency is measured against the same daemon, as the reference.
set -euo pipefail

seconds=5
runs=3
yardstick=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --yardstick)
      if [ ! -x "$2/load" ]; then
        echo "client-bench.sh: no C load at $2/load (make -C ../shared/yardstick O=\$PWD/target/yardstick)" >&2; exit 2
      fi
      yardstick=$(readlink -f "$2"); shift 2 ;;
    *) echo "client-bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"
client_java=${CLIENT_JAVA:-}
if [ -z "$client_java" ]; then
  for jdk in /usr/lib/jvm/*/; do
    v=$( [ -x "$jdk/bin/java" ] && "$jdk/bin/java" -XshowSettings:properties -version 2>&1 \
        | awk -F'= ' '/java.specification.version/ {print $2; exit}' || true)
    if [ -n "$v" ] && [ "$v" -ge 21 ]; then client_java="$jdk/bin/java"; break; fi
  done
fi
client_java=${client_java:-$java}

sock="$work/adder.sock"
taskset -c 0 "$java" -XX:+UseSerialGC -Xms8m -Xmx64m -XX:AutoBoxCacheMax=20000 -jar "$server_jar" \
    --listen "unix:$sock" --no-jmx > "$work/daemon.log" 2>&1 &
pids+=("$!")
listening_address "$work/daemon.log" "$!" > /dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores; daemon: $("$java" -version 2>&1 | head -1);" \
     "callers: $("$client_java" -version 2>&1 | head -1); $seconds s runs, $runs each" >&2

shapes=(
  "1 thread|--callers 1"
  "4 threads, one client|--callers 4"
  "64 threads, one client|--callers 64"
  "256 threads, one client|--callers 256"
  "1,000 virtual threads, one client|--callers 1000 --virtual"
  "10,000 virtual threads, one client|--callers 10000 --virtual"
  "64 threads, a client each|--callers 64 --client-each"
  "addAsync, 64 in flight, 1 thread|--async 64"
  "addAsync, 1,000 in flight, 1 thread|--async 1000"
  "addAll of 1,000,000 pairs, 1 thread|--batch 1000000"
)
printf '| callers | req/s | p50 µs | p99 µs | write calls per request |\n|---|---|---|---|---|\n'
for shape in "${shapes[@]}"; do
  name=${shape%%|*}; args=${shape#*|}
  for _ in $(seq 1 "$runs"); do
    # shellcheck disable=SC2086
    taskset -c 1 "$client_java" -jar "$bench_jar" client --connect "unix:$sock" $args \
        --seconds "$seconds" --warmup 1 2>&1 | tail -1
  done > "$work/runs.txt"
  echo "# $name: $(tr '\n' ' ' < "$work/runs.txt")" >&2
  python3 - "$name" "$work/runs.txt" <<'PY'
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=([\d.]+)", line)) for line in open(sys.argv[2]) if "ops_per_s" in line]
med = lambda k: statistics.median(float(r[k]) for r in rows)
w = med('writes_per_op') if all('writes_per_op' in r for r in rows) else float('nan')
print(f"| {sys.argv[1]} | {med('ops_per_s'):,.0f} | {med('p50_us'):.0f} | {med('p99_us'):.0f} | {w:.3f} |")
PY
done
if [ -n "$yardstick" ]; then
  for conns in 1 4 64 256 1000; do
    for _ in $(seq 1 "$runs"); do
      taskset -c 1 "$yardstick/load" --unix "$sock" --conns "$conns" --depth 1 --seconds "$seconds"
    done > "$work/runs.txt"
    python3 - "C load, $conns connections, depth 1" "$work/runs.txt" <<'PY'
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=([\d.]+)", line)) for line in open(sys.argv[2]) if "ops_per_s" in line]
med = lambda k: statistics.median(float(r[k]) for r in rows)
print(f"| {sys.argv[1]} | {med('ops_per_s'):,.0f} | {med('p50_us'):.0f} | {med('p99_us'):.0f} | |")
PY
  done
fi
