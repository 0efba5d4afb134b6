#!/usr/bin/env bash
# Adder's client under concurrent callers, against Adder's daemon, on this machine; and beside it,
# the same calls made by a gRPC client of the gRPC peer (adder-bench's `grpc` command).
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs (it builds nothing)
#   adder-bench/client-bench.sh [--seconds S] [--runs N] [--peers adder,grpc] [--transports unix,tcp]
#                               [--shapes LIST|grpc] [--yardstick DIR]
#   adder-bench/client-bench.sh --paced [--rates LIST] [--patterns LIST] [--seconds S] [--runs N]
#
# The servers are pinned to core 0, the calling program to core 1: Adder's daemon (recommended flags)
# and, with --peers adder,grpc, the gRPC peer (one event loop thread, -XX:+UseSerialGC, or
# $GRPC_JAVA_OPTS), both started at the beginning, each on a Unix socket and on TCP (127.0.0.1).
# Each shape runs N times on each transport (default unix), the peers taking turns (A B A B ...);
# printed: the median of requests/s and of p50/p99 call latency, and, for every peer after the
# first, the median of the ratios of the first peer's req/s to its own, run beside run. The calling
# program runs on $CLIENT_JAVA (default: a Java 21+ JDK under /usr/lib/jvm, for virtual threads;
# else java). Shapes (--shapes, default all): t1 t4 t64 t256 v1000 v10000 each64 async64 async1000
# batch; `grpc` is the set the gRPC comparison takes: t1,t64,v1000,async64,async1000 (the gRPC peer
# has no addAll: batch is Adder's alone).
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
peers=adder
transports=unix
shapes=all
paced=""
rates=1000,5000,10000,20000
patterns=even,jittered,bursts,catch-up,beside
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
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

IFS=, read -r -a peer_list <<< "$peers"
for peer in "${peer_list[@]}"; do
  case "$peer" in adder|grpc) ;; *) echo "client-bench.sh: unknown peer $peer (adder or grpc)" >&2; exit 2 ;; esac
done
IFS=, read -r -a transport_list <<< "$transports"
for transport in "${transport_list[@]}"; do
  case "$transport" in unix|tcp) ;; *) echo "client-bench.sh: unknown transport $transport (unix or tcp)" >&2; exit 2 ;; esac
done
case "$shapes" in
  all) shapes=t1,t4,t64,t256,v1000,v10000,each64,async64,async1000,batch ;;
  grpc) shapes=t1,t64,v1000,async64,async1000 ;;
esac
# shape_of KEY: its name and the client command's arguments, NAME|ARGS
shape_of() {
  case "$1" in
    t1) echo "1 thread|--callers 1" ;;
    t4) echo "4 threads, one client|--callers 4" ;;
    t64) echo "64 threads, one client|--callers 64" ;;
    t256) echo "256 threads, one client|--callers 256" ;;
    v1000) echo "1,000 virtual threads, one client|--callers 1000 --virtual" ;;
    v10000) echo "10,000 virtual threads, one client|--callers 10000 --virtual" ;;
    each64) echo "64 threads, a client each|--callers 64 --client-each" ;;
    async64) echo "addAsync, 64 in flight, 1 thread|--async 64" ;;
    async1000) echo "addAsync, 1,000 in flight, 1 thread|--async 1000" ;;
    batch) echo "addAll of 1,000,000 pairs, 1 thread|--batch 1000000" ;;
    *) echo "client-bench.sh: unknown shape $1" >&2; return 2 ;;
  esac
}
IFS=, read -r -a shape_keys <<< "$shapes"
for key in "${shape_keys[@]}"; do shape_of "$key" > /dev/null || exit 2; done

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
declare -A addrs
for peer in "${peer_list[@]}"; do
  log="$work/$peer.log"
  case "$peer" in
    adder) taskset -c 0 "$java" -XX:+UseSerialGC -Xms8m -Xmx64m -XX:AutoBoxCacheMax=20000 -jar "$server_jar" \
               --listen "unix:$sock" --listen tcp:127.0.0.1:0 --no-jmx > "$log" 2>&1 & ;;
    grpc) read -r -a grpc_opts <<< "${GRPC_JAVA_OPTS:--XX:+UseSerialGC}"
          taskset -c 0 "$java" "${grpc_opts[@]}" -jar "$bench_jar" grpc \
              --listen "unix:$work/grpc.sock" --listen tcp:127.0.0.1:0 > "$log" 2>&1 & ;;
  esac
  pids+=("$!")
  addrs[$peer:unix]=$(listening_address "$log" "$!")
  addrs[$peer:tcp]=$(grep -o "listening on [^;]*" "$log" | grep -o "tcp:[^,]*" | head -1)
  echo "# $peer: ${addrs[$peer:unix]} and ${addrs[$peer:tcp]}, pid $!" >&2
done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores; servers: $("$java" -version 2>&1 | head -1);" \
     "callers: $("$client_java" -version 2>&1 | head -1); $seconds s runs, $runs each;" \
     "gRPC peer's flags: ${GRPC_JAVA_OPTS:--XX:+UseSerialGC}" >&2

printf '| callers | transport | peer | req/s | p50 µs | p99 µs | write calls per request | %s req/s ÷ this |\n' "${peer_list[0]}"
printf '|---|---|---|---|---|---|---|---|\n'
for key in "${shape_keys[@]}"; do
  shape=$(shape_of "$key"); name=${shape%%|*}; args=${shape#*|}
  for transport in "${transport_list[@]}"; do
    : > "$work/runs.tsv"
    for _ in $(seq 1 "$runs"); do
      for peer in "${peer_list[@]}"; do
        [ "$peer" = grpc ] && [ "$key" = batch ] && continue
        # shellcheck disable=SC2086
        out=$(taskset -c 1 "$client_java" -jar "$bench_jar" client --peer "$peer" --connect "${addrs[$peer:$transport]}" \
            $args --seconds "$seconds" --warmup 1 2>&1 | tail -1)
        echo "# $name, $transport, $peer: $out" >&2
        printf '%s\t%s\n' "$peer" "$out" >> "$work/runs.tsv"
      done
    done
    python3 - "$name" "$transport" "$work/runs.tsv" "${peer_list[@]}" <<'PY'
import re, statistics, sys
name, transport, path, peers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
runs = {}
for line in open(path):
    peer, out = line.rstrip("\n").split("\t", 1)
    if "ops_per_s" in out:
        runs.setdefault(peer, []).append(dict(re.findall(r"(\w+)=([\d.]+)", out)))
for peer in peers:
    rows = runs.get(peer)
    if not rows:
        continue
    med = lambda k: statistics.median(float(r[k]) for r in rows)
    w = med('writes_per_op') if all('writes_per_op' in r for r in rows) else float('nan')
    first = runs.get(peers[0], [])
    ratio = "" if peer == peers[0] or not first else "%.1fx" % statistics.median(
        float(a['ops_per_s']) / float(b['ops_per_s']) if float(b['ops_per_s']) else float("nan")
        for a, b in zip(first, rows))
    print(f"| {name} | {transport} | {peer} | {med('ops_per_s'):,.0f} | {med('p50_us'):.0f} | {med('p99_us'):.0f} "
          f"| {w:.3f} | {ratio} |")
PY
  done
done
if [ -n "$yardstick" ] && [ -n "${addrs[adder:unix]:-}" ]; then
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
