#!/usr/bin/env bash
# Adder against the Netty peer, side by side, on this machine.
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs (it builds nothing)
#   adder-bench/compare.sh [--seconds S] [--runs N] [--shapes LIST] [--transports LIST] [--baseline JAR]
#
# With --baseline, the peer is not Netty but another build of Adder's daemon (its -all.jar, say
# built from an earlier commit in a git worktree): before/after figures of a change, in one sitting.
#
# Both servers are pinned to core 0 and the load generator to core 1. For each transport and
# shape, each server gets a warm-up run, then the runs alternate A B A B (N each). Printed:
# medians of requests/s, p50 and p99 latency, server CPU seconds per million requests
# (utime+stime from /proc/PID/stat over the run, over every request of the run), server RSS sampled mid-run, and Adder/Netty.
# JAVA_OPTS applies to both servers (default: none). Needs java, taskset and python3.
set -euo pipefail

seconds=5
runs=3
shapes="pingpong1,pingpong64,pipelined,c10k"
transports="unix,tcp"
baseline_jar=""
peer=netty
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --baseline) baseline_jar=$(readlink -f "$2"); peer=baseline; shift 2 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"
read -r -a java_opts <<< "${JAVA_OPTS:-}"
clk_tck=$(getconf CLK_TCK)
results="$work/results.tsv"

shape_args() {
  case "$1" in
    pingpong1) echo "--conns 1 --depth 1" ;;
    pingpong64) echo "--conns 64 --depth 1" ;;
    pipelined) echo "--conns 4 --depth 256" ;;
    c10k) echo "--conns 10000 --depth 1" ;;
    *) echo "compare.sh: unknown shape $1" >&2; exit 2 ;;
  esac
}

# start_server NAME TRANSPORT: starts it on core 0; sets server_pid and server_addr
start_server() {
  local name=$1 transport=$2 listen log
  if [ "$transport" = unix ]; then listen="unix:$work/$name.sock"; else listen="tcp:127.0.0.1:0"; fi
  log="$work/$name-$transport.log"
  if [ "$name" = adder ]; then
    taskset -c 0 "$java" "${java_opts[@]}" -jar "$server_jar" --listen "$listen" --no-jmx > "$log" 2>&1 &
  elif [ -n "$baseline_jar" ]; then
    taskset -c 0 "$java" "${java_opts[@]}" -jar "$baseline_jar" --listen "$listen" --no-jmx > "$log" 2>&1 &
  else
    taskset -c 0 "$java" "${java_opts[@]}" -jar "$bench_jar" netty --listen "$listen" > "$log" 2>&1 &
  fi
  server_pid=$!
  pids+=("$server_pid")
  server_addr=$(listening_address "$log" "$server_pid")
  echo "# $name on $transport: $server_addr, pid $server_pid, idle RSS $(rss_kb "$server_pid") kB" >&2
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_load NAME PID ADDR TRANSPORT SHAPE RECORD: one load run; appends a line to results if RECORD
run_load() {
  local name=$1 pid=$2 addr=$3 transport=$4 shape=$5 record=$6 out before after rss
  before=$(cpu_ticks "$pid")
  # shellcheck disable=SC2046
  taskset -c 1 "$java" -jar "$bench_jar" load --connect "$addr" $(shape_args "$shape") \
      --seconds "$seconds" --warmup 0.5 > "$work/load.out" 2> "$work/load.err" &
  local load_pid=$!
  sleep "$(awk -v s="$seconds" 'BEGIN {print s * 0.6 + 0.5}')"
  rss=$(rss_kb "$pid")
  if ! wait "$load_pid"; then
    echo "compare.sh: load against $name failed:" >&2; cat "$work/load.err" >&2; exit 1
  fi
  after=$(cpu_ticks "$pid")
  out=$(cat "$work/load.out")
  echo "# $name $transport $shape: $out rss_kB=$rss cpu_ticks=$((after - before))" >&2
  if [ "$record" = yes ]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$transport" "$shape" "$name" "$out" "$rss" \
        "$((after - before))" "$clk_tck" >> "$results"
  fi
}

IFS=, read -r -a transport_list <<< "$transports"
IFS=, read -r -a shape_list <<< "$shapes"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
     "$("$java" -version 2>&1 | head -1), JAVA_OPTS='${JAVA_OPTS:-}', $seconds s runs, $runs runs each" >&2
for transport in "${transport_list[@]}"; do
  start_server adder "$transport"; adder_pid=$server_pid; adder_addr=$server_addr
  start_server "$peer" "$transport"; peer_pid=$server_pid; peer_addr=$server_addr
  for shape in "${shape_list[@]}"; do
    run_load adder "$adder_pid" "$adder_addr" "$transport" "$shape" no
    run_load "$peer" "$peer_pid" "$peer_addr" "$transport" "$shape" no
    for _ in $(seq 1 "$runs"); do
      run_load adder "$adder_pid" "$adder_addr" "$transport" "$shape" yes
      run_load "$peer" "$peer_pid" "$peer_addr" "$transport" "$shape" yes
    done
  done
  if [ "$transport" = tcp ]; then
    # the teaching client's pattern: x and y as two writes with Nagle on, one request at a time
    for name in adder "$peer"; do
      if [ "$name" = adder ]; then addr=$adder_addr; else addr=$peer_addr; fi
      out=$(taskset -c 1 "$java" -jar "$bench_jar" load --connect "$addr" --split-writes --requests 1000)
      echo "# $name teaching pattern over TCP, 1000 requests: $out" >&2
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' tcp teaching1000 "$name" "$out" 0 0 "$clk_tck" >> "$results"
    done
  fi
  kill "$adder_pid" "$peer_pid"; wait "$adder_pid" "$peer_pid" 2>/dev/null || true
done

peer_label=Netty
if [ -n "$baseline_jar" ]; then peer_label=Baseline; echo "# baseline: $baseline_jar" >&2; fi
python3 - "$results" "$peer_label" "$peer" <<'PY'
import re, statistics, sys
peer, peer_key = sys.argv[2], sys.argv[3]
rows = {}
for line in open(sys.argv[1]):
    transport, shape, name, out, rss, ticks, clk = line.rstrip("\n").split("\t")
    f = dict(re.findall(r"(\w+)=([\d.]+)", out))
    rec = rows.setdefault((transport, shape), {}).setdefault(name, [])
    ops = float(f.get("total", f["ops"]))
    rec.append({"rps": float(f["ops_per_s"]), "p50": float(f["p50_us"]), "p99": float(f["p99_us"]),
                "cpu": (int(ticks) / int(clk)) / (ops / 1e6) if ops else 0.0, "rss": int(rss) / 1024,
                "secs": float(f.get("seconds", 0))})
med = lambda recs, k: statistics.median(r[k] for r in recs)
# the ratio is the median of each back-to-back pair's ratio: robust to the machine's drift
pair = lambda a, n, k: statistics.median(x[k] / y[k] for x, y in zip(a, n))
print(f"| transport | shape | Adder req/s | {peer} req/s | Adder/{peer} | Adder p50/p99 µs | {peer} p50/p99 µs "
      f"| Adder / {peer} CPU s per M req | Adder / {peer} RSS MB |")
print("|---|---|---|---|---|---|---|---|---|")
for (transport, shape), by in rows.items():
    a, n = by["adder"], by[peer_key]
    if shape == "teaching1000":
        print(f"| {transport} | teaching pattern, 1000 requests | {med(a,'secs'):.3f} s | {med(n,'secs'):.3f} s "
              f"| {med(n,'secs')/med(a,'secs'):.0f}x faster | | | | |")
        continue
    print(f"| {transport} | {shape} | {med(a,'rps'):,.0f} | {med(n,'rps'):,.0f} | {pair(a,n,'rps'):.2f} "
          f"| {med(a,'p50'):.0f} / {med(a,'p99'):.0f} | {med(n,'p50'):.0f} / {med(n,'p99'):.0f} "
          f"| {med(a,'cpu'):.3f} / {med(n,'cpu'):.3f} | {med(a,'rss'):.1f} / {med(n,'rss'):.1f} |")
PY
