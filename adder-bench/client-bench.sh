#!/usr/bin/env bash
# Adder's client under concurrent callers, against Adder's daemon, on this machine.
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs (it builds nothing)
#   adder-bench/client-bench.sh [--seconds S] [--runs N] [--yardstick DIR]
#   adder-bench/client-bench.sh --paced [--rates LIST] [--patterns LIST] [--seconds S] [--runs N]
#
# The daemon (recommended flags) is pinned to core 0, the calling program to core 1. Each shape
# runs N times; printed: the median of requests/s and of p50/p99 call latency. The calling program
# runs on $CLIENT_JAVA (default: a Java 21+ JDK under /usr/lib/jvm, for virtual threads; else java).
# With --yardstick DIR holding the C `load` (make -C ../shared/yardstick O=$PWD/target/yardstick),
# the C load at the same concurrency is measured against the same daemon, as the reference.
#
# --paced: what a server costs under one AdderClient thread that paces its calls with
# LockSupport.parkNanos, as application code does (client --pattern P --rate R): patterns
# (--patterns, default even,jittered,bursts,catch-up,beside; see ClientBench) at each rate
# (--rates, default 1000,5000,10000,20000 calls/s), then ping-pong (one thread, back to back).
# Three servers at once, each pinned to core 0, on a Unix socket of its own, with the daemon's
# recommended flags: Adder's daemon as built (default), the same with --busy-poll 0, and the
# Netty peer; the caller is pinned to core 1. Runs go round the servers N times; printed: the
# median of each server's CPU over the measured window (percent of a core, /proc/PID/stat), the
# median of default's over --busy-poll 0's side by side, the paced calls/s kept and default's
# p50/p99; for ping-pong, calls/s and their ratio.
set -euo pipefail

seconds=5
runs=3
yardstick=""
paced=""
rates=1000,5000,10000,20000
patterns=even,jittered,bursts,catch-up,beside
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --paced) paced=1; shift ;;
    --rates) rates=$2; shift 2 ;;
    --patterns) patterns=$2; shift 2 ;;
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

server_flags=(-XX:+UseSerialGC -Xms8m -Xmx64m -XX:AutoBoxCacheMax=20000)

if [ -n "$paced" ]; then
  declare -A server_pid server_sock
  for name in default bp0 netty; do
    server_sock[$name]="$work/$name.sock"
    case "$name" in
      default) taskset -c 0 "$java" "${server_flags[@]}" -jar "$server_jar" --listen "unix:${server_sock[$name]}" \
          --no-jmx > "$work/$name.log" 2>&1 & ;;
      bp0) taskset -c 0 "$java" "${server_flags[@]}" -jar "$server_jar" --listen "unix:${server_sock[$name]}" \
          --no-jmx --busy-poll 0 > "$work/$name.log" 2>&1 & ;;
      netty) taskset -c 0 "$java" "${server_flags[@]}" -jar "$bench_jar" netty --listen "unix:${server_sock[$name]}" \
          > "$work/$name.log" 2>&1 & ;;
    esac
    server_pid[$name]=$!
    pids+=("$!")
    listening_address "$work/$name.log" "$!" > /dev/null
  done
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores; servers: $("$java" -version 2>&1 | head -1);" \
       "caller: $("$client_java" -version 2>&1 | head -1); $seconds s runs, $runs rounds" >&2
  : > "$work/paced.tsv"
  run_shape() { # label args...
    local label=$1; shift
    for round in $(seq 1 "$runs"); do
      for name in default bp0 netty; do
        out=$(taskset -c 1 "$client_java" -jar "$bench_jar" client --connect "unix:${server_sock[$name]}" "$@" \
            --server-pid "${server_pid[$name]}" --clk-tck "$(getconf CLK_TCK)" --seconds "$seconds" --warmup 1 2>&1 \
            | tail -1)
        echo "# $label $name round $round: $out" >&2
        printf '%s\t%s\t%s\t%s\n' "$label" "$name" "$round" "$out" >> "$work/paced.tsv"
      done
    done
  }
  for pattern in ${patterns//,/ }; do
    for rate in ${rates//,/ }; do
      run_shape "$pattern $rate/s" --pattern "$pattern" --rate "$rate"
    done
  done
  run_shape "ping-pong" --callers 1
  python3 - "$work/paced.tsv" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    label, name, rnd, out = line.rstrip("\n").split("\t")
    f = dict(re.findall(r"(\w+)=([\d.]+)", out))
    if "server_cpu_pct" in f:
        runs.setdefault(label, {}).setdefault(name, {})[rnd] = f
med = statistics.median
print("| shape | default CPU | `--busy-poll 0` CPU | default / bp0 | Netty CPU | paced calls/s (default, bp0) | default p50 / p99 µs |")
print("|---|---|---|---|---|---|---|")
for label, by in runs.items():
    d, b, n = by.get("default", {}), by.get("bp0", {}), by.get("netty", {})
    cpu = lambda r: f"{med(float(x['server_cpu_pct']) for x in r.values()):.1f}%" if r else "-"
    if label == "ping-pong":
        ops = lambda r: med(float(x["ops_per_s"]) for x in r.values()) if r else float("nan")
        ratio = med(float(d[k]["ops_per_s"]) / float(b[k]["ops_per_s"]) for k in d if k in b)
        print(f"| ping-pong: {ops(d):,.0f} calls/s default, {ops(b):,.0f} bp0 ({ratio:.2f}x), {ops(n):,.0f} Netty"
              f" | {cpu(d)} | {cpu(b)} | | {cpu(n)} | | |")
        continue
    ratios = [float(d[k]["server_cpu_pct"]) / float(b[k]["server_cpu_pct"]) for k in d if k in b
              and float(b[k]["server_cpu_pct"]) > 0]
    ratio = f"{med(ratios):.2f}x" if ratios else "-"
    kept = lambda r: f"{med(float(x['paced_ops_per_s']) for x in r.values()):,.0f}" if r else "-"
    lat = f"{med(float(x['p50_us']) for x in d.values()):.0f} / {med(float(x['p99_us']) for x in d.values()):.0f}" if d else "-"
    print(f"| {label} | {cpu(d)} | {cpu(b)} | {ratio} | {cpu(n)} | {kept(d)}, {kept(b)} | {lat} |")
PY
  exit 0
fi

sock="$work/adder.sock"
taskset -c 0 "$java" "${server_flags[@]}" -jar "$server_jar" \
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
