#!/usr/bin/env bash
# Adder against its peers, side by side, on this machine.
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs (it builds nothing)
#   adder-bench/compare.sh [--seconds S] [--runs N] [--shapes LIST] [--transports LIST]
#                          [--servers LIST] [--baseline JAR] [--yardstick DIR]
#                          [--tls-key-type rsa2048|ec256] [--tls-engine openssl|jdk]
#
# Transports (--transports, default unix,tcp): unix, tcp, and tls (TLS over TCP: the servers get a
# throwaway CA's certificate for 127.0.0.1, made here with openssl, an RSA 2048 key by default or a
# P-256 one with --tls-key-type ec256; the load trusts that CA and speaks TLS through its own
# engine, BoringSSL's by default, the JDK's with --tls-engine jdk).
#
# Servers (--servers, default adder,netty; the first is the one the others are compared with):
#   adder       Adder's daemon as built, default settings
#   adder-bp0   the same daemon with --busy-poll 0 (it never spins)
#   netty       the Netty peer (adder-bench's `netty` command); on tls, its SslHandler over the JDK's
#               engine, the same engine as Adder's
#   netty-openssl  on tls only: the Netty peer's SslHandler over BoringSSL (netty-tcnative)
#   adder-tcp   on tls only: Adder's daemon on plain TCP, beside the TLS servers: what TLS costs
#   baseline    another build of Adder's daemon, --baseline JAR (its -all.jar, say built from an
#               earlier commit in a git worktree): before/after figures of a change in one sitting;
#               --baseline alone means --servers adder,baseline
#   c           the C yardstick's ref_server, --yardstick DIR holding it
#               (make -C ../shared/yardstick O=$PWD/target/yardstick)
#
# Shapes (--shapes, default pingpong1,pingpong64,pipelined,c10k):
#   pingpong1, pingpong64   1 or 64 connections, one request in flight each, as fast as answered
#   pipelined               4 connections, 256 requests in flight each
#   c10k                    10,000 connections, one request in flight each
#   paced1k ... paced20k    one connection sending 1,000, 5,000, 10,000 or 20,000 requests/s on a
#                           fixed schedule (latency from each request's scheduled time): what a
#                           server costs at the rates most servers spend their life at
#   paced                   all four paced shapes
#   handshakes              on tls only: new connections as fast as the server takes them, 4 at a
#                           time, each a full handshake, one request and a close; req/s is then
#                           connections (handshakes) per second, and CPU is per connection
#
# Every server is pinned to core 0 and the load generator to core 1. For each transport and shape,
# each server gets a warm-up run, then the runs go round the servers N times (A B C, A B C, ...).
# Printed: medians of requests/s, p50 and p99 latency, server CPU (seconds per million requests;
# for paced shapes, percent of a core over the measured window; over TLS, over the measured window
# alone, without the connections' handshakes), server RSS sampled mid-run, and
# each figure's ratio to the first server's, as the median of the ratios of runs made side by side,
# and the load generator's own CPU (percent of its core: near 100%, the load is what limits the run;
# over TLS its side of each exchange costs about what the server's does).
# JAVA_OPTS applies to every Java server (default: none). Needs java, taskset and python3.
set -euo pipefail

seconds=5
runs=3
shapes="pingpong1,pingpong64,pipelined,c10k"
transports="unix,tcp"
servers=""
baseline_jar=""
yardstick=""
tls_key_type=rsa2048
tls_engine=openssl
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --baseline) baseline_jar=$(readlink -f "$2"); shift 2 ;;
    --yardstick) yardstick=$(readlink -f "$2"); shift 2 ;;
    --tls-key-type) tls_key_type=$2; shift 2 ;;
    --tls-engine) tls_engine=$2; shift 2 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$servers" ]; then
  if [ -n "$baseline_jar" ]; then servers="adder,baseline"; else servers="adder,netty"; fi
fi

source "$(dirname "$0")/lib.sh"
read -r -a java_opts <<< "${JAVA_OPTS:-}"
clk_tck=$(getconf CLK_TCK)
results="$work/results.tsv"

IFS=, read -r -a server_list <<< "$servers"
for name in "${server_list[@]}"; do
  case "$name" in
    adder|adder-bp0|netty|netty-openssl|adder-tcp) ;;
    baseline) [ -f "$baseline_jar" ] || { echo "compare.sh: baseline needs --baseline JAR" >&2; exit 2; } ;;
    c) [ -x "$yardstick/ref_server" ] || {
         echo "compare.sh: c needs --yardstick DIR with ref_server (make -C ../shared/yardstick O=\$PWD/target/yardstick)" >&2
         exit 2; } ;;
    *) echo "compare.sh: unknown server $name" >&2; exit 2 ;;
  esac
done

shape_args() {
  case "$1" in
    pingpong1) echo "--conns 1 --depth 1" ;;
    pingpong64) echo "--conns 64 --depth 1" ;;
    pipelined) echo "--conns 4 --depth 256" ;;
    c10k) echo "--conns 10000 --depth 1" ;;
    paced1k) echo "--conns 1 --rate 1000" ;;
    paced5k) echo "--conns 1 --rate 5000" ;;
    paced10k) echo "--conns 1 --rate 10000" ;;
    paced20k) echo "--conns 1 --rate 20000" ;;
    paced5m) echo "--conns 4 --depth 4096 --rate 5000000" ;;
    handshakes) echo "--handshakes --threads 4" ;;
    *) echo "compare.sh: unknown shape $1" >&2; exit 2 ;;
  esac
}

# wait_connectable ADDR PID: waits until a server without a "listening on" line accepts connections
wait_connectable() {
  local addr=$1 pid=$2
  for _ in $(seq 1 100); do
    if python3 - "$addr" <<'PY' 2>/dev/null; then return 0; fi
import socket, sys
kind, _, rest = sys.argv[1].partition(":")
if kind == "unix":
    s = socket.socket(socket.AF_UNIX); s.connect(rest)
else:
    host, _, port = rest.rpartition(":"); s = socket.socket(); s.connect((host, int(port)))
s.close()
PY
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "compare.sh: the server at $addr did not start" >&2
  exit 1
}

# serves NAME TRANSPORT: whether that server is run on that transport (netty-openssl and adder-tcp
# only beside TLS servers, the C yardstick never on TLS)
serves() {
  case "$1:$2" in
    netty-openssl:tls|adder-tcp:tls) return 0 ;;
    netty-openssl:*|adder-tcp:*|c:tls) return 1 ;;
    *) return 0 ;;
  esac
}

# runs_shape NAME TRANSPORT SHAPE: whether that server is measured in that shape
runs_shape() {
  case "$3" in
    handshakes) [ "$2" = tls ] && [ "$1" != adder-tcp ] ;;
    *) return 0 ;;
  esac
}

# start_server NAME TRANSPORT: starts it on core 0; sets server_pid and server_addr
start_server() {
  local name=$1 transport=$2 listen log tls=()
  case "$transport" in
    unix) listen="unix:$work/$name.sock" ;;
    tcp) listen="tcp:127.0.0.1:0" ;;
    tls) listen="tls:127.0.0.1:0"; tls=(--tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key") ;;
  esac
  log="$work/$name-$transport.log"
  case "$name" in
    adder) taskset -c 0 "$java" "${java_opts[@]}" -jar "$server_jar" --listen "$listen" "${tls[@]}" --no-jmx > "$log" 2>&1 & ;;
    adder-bp0) taskset -c 0 "$java" "${java_opts[@]}" -jar "$server_jar" --listen "$listen" "${tls[@]}" --no-jmx \
                   --busy-poll 0 > "$log" 2>&1 & ;;
    adder-tcp) taskset -c 0 "$java" "${java_opts[@]}" -jar "$server_jar" --listen tcp:127.0.0.1:0 --no-jmx > "$log" 2>&1 & ;;
    baseline) taskset -c 0 "$java" "${java_opts[@]}" -jar "$baseline_jar" --listen "$listen" "${tls[@]}" --no-jmx > "$log" 2>&1 & ;;
    netty) taskset -c 0 "$java" "${java_opts[@]}" -jar "$bench_jar" netty --listen "$listen" "${tls[@]}" > "$log" 2>&1 & ;;
    netty-openssl) taskset -c 0 "$java" "${java_opts[@]}" -jar "$bench_jar" netty --listen "$listen" "${tls[@]}" \
                       --tls-provider openssl > "$log" 2>&1 & ;;
    c)
      if [ "$transport" = unix ]; then
        server_addr=$listen
        taskset -c 0 "$yardstick/ref_server" --unix "${listen#unix:}" > "$log" 2>&1 &
      else
        server_addr="tcp:127.0.0.1:$(free_tcp_port)"
        taskset -c 0 "$yardstick/ref_server" --tcp "${server_addr#tcp:}" > "$log" 2>&1 &
      fi ;;
  esac
  server_pid=$!
  pids+=("$server_pid")
  if [ "$name" = c ]; then
    wait_connectable "$server_addr" "$server_pid"
  else
    server_addr=$(listening_address "$log" "$server_pid")
  fi
  echo "# $name on $transport: $server_addr, pid $server_pid, idle RSS $(rss_kb "$server_pid") kB" >&2
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_load NAME PID ADDR TRANSPORT SHAPE RECORD: one load run; appends a line to results if RECORD
run_load() {
  local name=$1 pid=$2 addr=$3 transport=$4 shape=$5 record=$6 out before after rss tls=() warmup=0.5
  runs_shape "$name" "$transport" "$shape" || return 0
  [[ $addr == tls:* ]] && tls=(--tls-ca "$work/tls/ca.pem" --tls-engine "$tls_engine")
  # over TLS the load's own JVM needs longer before its TLS code runs compiled (adder-tcp beside it alike)
  [ "$transport" = tls ] && warmup=2
  before=$(cpu_ticks "$pid")
  # shellcheck disable=SC2046
  taskset -c 1 "$java" -jar "$bench_jar" load --connect "$addr" $(shape_args "$shape") "${tls[@]}" \
      --seconds "$seconds" --warmup "$warmup" --server-pid "$pid" > "$work/load.out" 2> "$work/load.err" &
  local load_pid=$!
  sleep "$(awk -v s="$seconds" -v w="$warmup" 'BEGIN {print s * 0.6 + w}')"
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
shape_list=()
saturating=no
IFS=, read -r -a given_shapes <<< "$shapes"
for shape in "${given_shapes[@]}"; do
  if [ "$shape" = paced ]; then shape_list+=(paced1k paced5k paced10k paced20k); else shape_list+=("$shape"); fi
  [[ $shape == paced* ]] || saturating=yes
done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
     "$("$java" -version 2>&1 | head -1), JAVA_OPTS='${JAVA_OPTS:-}', $seconds s runs, $runs runs each" >&2
for transport in "${transport_list[@]}"; do
  if [ "$transport" = tls ]; then
    make_test_certs "$work/tls" "$tls_key_type"
    echo "# tls: a $tls_key_type server key; the load's engine: $tls_engine" >&2
  fi
done
declare -A server_pids server_addrs
for transport in "${transport_list[@]}"; do
  active=()
  for name in "${server_list[@]}"; do
    serves "$name" "$transport" && active+=("$name")
  done
  for name in "${active[@]}"; do
    start_server "$name" "$transport"
    server_pids[$name]=$server_pid; server_addrs[$name]=$server_addr
  done
  for shape in "${shape_list[@]}"; do
    for name in "${active[@]}"; do
      run_load "$name" "${server_pids[$name]}" "${server_addrs[$name]}" "$transport" "$shape" no
    done
    for _ in $(seq 1 "$runs"); do
      for name in "${active[@]}"; do
        run_load "$name" "${server_pids[$name]}" "${server_addrs[$name]}" "$transport" "$shape" yes
      done
    done
  done
  if [ "$transport" = tcp ] && [ "$saturating" = yes ]; then
    # the teaching client's pattern: x and y as two writes with Nagle on, one request at a time
    for name in "${active[@]}"; do
      out=$(taskset -c 1 "$java" -jar "$bench_jar" load --connect "${server_addrs[$name]}" --split-writes --requests 1000)
      echo "# $name teaching pattern over TCP, 1000 requests: $out" >&2
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' tcp teaching1000 "$name" "$out" 0 0 "$clk_tck" >> "$results"
    done
  fi
  for name in "${active[@]}"; do kill "${server_pids[$name]}"; done
  for name in "${active[@]}"; do wait "${server_pids[$name]}" 2>/dev/null || true; done
done

[ -n "$baseline_jar" ] && echo "# baseline: $baseline_jar" >&2
python3 - "$results" "$servers" <<'PY'
import re, statistics, sys
names = sys.argv[2].split(",")
first = names[0]
rows = {}
for line in open(sys.argv[1]):
    transport, shape, name, out, rss, ticks, clk = line.rstrip("\n").split("\t")
    f = dict(re.findall(r"(\w+)=([\d.]+)", out))
    ops = float(f.get("total", f["ops"]))
    paced = shape.startswith("paced")
    if paced:
        cpu = float(f["server_cpu_pct"])
    elif transport == "tls":
        # the load's own figure, over its measured window alone: the run's handshakes, made before the
        # window, would otherwise be charged to its requests
        cpu = float(f["server_cpu_us_per_req"])
    else:
        cpu = (int(ticks) / int(clk)) / (ops / 1e6) if ops else 0.0
    rows.setdefault((transport, shape), {}).setdefault(name, []).append(
        {"rps": float(f["ops_per_s"]), "p50": float(f["p50_us"]), "p99": float(f["p99_us"]),
         "cpu": cpu, "rss": int(rss) / 1024, "secs": float(f.get("seconds", 0)),
         "load": float(f.get("load_cpu_pct", "nan"))})
med = lambda recs, k: statistics.median(r[k] for r in recs)
# a ratio is the median of the ratios of runs made side by side: robust to the machine's drift
ratio = lambda a, b, k: statistics.median(x[k] / y[k] if y[k] else float("nan") for x, y in zip(a, b))
print("| transport | shape | server | req/s | req/s vs " + first + " | p50 / p99 µs | p99 vs " + first
      + " | server CPU | CPU vs " + first + " | RSS MB | load CPU |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (transport, shape), by in rows.items():
    base = by.get(first)
    rel = lambda r, k: f"{ratio(r, base, k):.2f}" if base else "-"
    for name in names:
        if name not in by:
            continue  # not run on this transport or in this shape
        r = by[name]
        if shape == "teaching1000":
            print(f"| {transport} | teaching pattern, 1000 requests | {name} | {med(r,'secs'):.3f} s | | | | | | | |")
            continue
        if shape.startswith("paced"):
            cpu = f"{med(r,'cpu'):.1f}% of a core"
        elif shape == "handshakes":
            cpu = f"{med(r,'cpu'):,.0f} µs per connection"
        else:
            cpu = f"{med(r,'cpu'):.3f} s per M req"
        label = "handshakes (req = connection)" if shape == "handshakes" else shape
        print(f"| {transport} | {label} | {name} | {med(r,'rps'):,.0f} | {rel(r,'rps')} "
              f"| {med(r,'p50'):.0f} / {med(r,'p99'):.0f} | {rel(r,'p99')} "
              f"| {cpu} | {rel(r,'cpu')} | {med(r,'rss'):.1f} | {med(r,'load'):.0f}% |")
PY
