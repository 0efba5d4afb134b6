#!/usr/bin/env bash
# Does a stream of new TLS connections delay the established ones? 16 checked TLS clients (1,000
# requests/s each, paced) alone and then with 200 new TLS connections/s beside them, phase after
# phase: their latency and the server loop's longest turn (Adder's daemon, read from its /metrics),
# and where the server's CPU went (its loop thread, its TLS task threads). adder-bench's
# handshakes-beside command against a server started here, with a throwaway CA and certificate.
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs
#   adder-bench/handshake-latency.sh [--server adder|netty|netty-openssl] [--phase-seconds S]
#       [--rounds K] [--warmup S] [--clients N] [--client-rate R] [--handshake-rate H]
#       [--tls-key-type rsa2048|ec256] [--server-cpus LIST] [--load-cpus LIST] [--tls-threads-cpus LIST]
#
# The server runs on --server-cpus (default 0), the clients and the handshakes on --load-cpus
# (default 1); JAVA_OPTS applies to the server. Only Adder reports its loop's longest turn. About
# (warm-up + 2 x rounds x phase) seconds: 2.5 minutes by default.
#
# On one core, Adder's TLS task thread (the handshakes' signatures and key exchanges) and its loop
# take turns on the CPU: the clients then wait for the core, not for a loop stalled on a handshake.
# --tls-threads-cpus LIST moves the adder-tls-* threads there (checked every 0.2 s, as the loop
# makes them), leaving the loop its core: on this 2-core machine, --tls-threads-cpus 1 puts them
# beside the load.
set -euo pipefail

server=adder
key_type=rsa2048
server_cpus=0
load_cpus=1
tls_threads_cpus=""
harness=()
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server=$2; shift 2 ;;
    --tls-key-type) key_type=$2; shift 2 ;;
    --server-cpus) server_cpus=$2; shift 2 ;;
    --load-cpus) load_cpus=$2; shift 2 ;;
    --tls-threads-cpus) tls_threads_cpus=$2; shift 2 ;;
    --phase-seconds|--rounds|--warmup|--clients|--client-rate|--handshake-rate) harness+=("$1" "$2"); shift 2 ;;
    *) echo "handshake-latency.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"
read -r -a java_opts <<< "${JAVA_OPTS:-}"
make_test_certs "$work/tls" "$key_type"
tls=(--tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key")
metrics=()
case "$server" in
  adder)
    port=$(free_tcp_port)
    taskset -c "$server_cpus" "$java" "${java_opts[@]}" -jar "$server_jar" --listen tls:127.0.0.1:0 "${tls[@]}" \
      --no-jmx --metrics "tcp:127.0.0.1:$port" > "$work/server.log" 2>&1 &
    metrics=(--metrics "tcp:127.0.0.1:$port") ;;
  netty) taskset -c "$server_cpus" "$java" "${java_opts[@]}" -jar "$bench_jar" netty --listen tls:127.0.0.1:0 "${tls[@]}" \
           > "$work/server.log" 2>&1 & ;;
  netty-openssl) taskset -c "$server_cpus" "$java" "${java_opts[@]}" -jar "$bench_jar" netty --listen tls:127.0.0.1:0 \
                   "${tls[@]}" --tls-provider openssl > "$work/server.log" 2>&1 & ;;
  *) echo "handshake-latency.sh: unknown server $server (adder, netty or netty-openssl)" >&2; exit 2 ;;
esac
pid=$!
pids+=("$pid")
address=$(listening_address "$work/server.log" "$pid")
if [ -n "$tls_threads_cpus" ]; then
  # the loop makes its TLS threads as handshakes come (and they end when idle): each goes where asked
  (while kill -0 "$pid" 2>/dev/null; do
     for task in /proc/"$pid"/task/*; do
       [[ $(cat "$task/comm" 2>/dev/null) == adder-tls-* ]] && taskset -pc "$tls_threads_cpus" "${task##*/}" > /dev/null 2>&1
     done
     sleep 0.2
   done) &
  pids+=("$!")
fi
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $("$java" -version 2>&1 | head -1), JAVA_OPTS='${JAVA_OPTS:-}';" \
     "$server on $address (cpus $server_cpus, pid $pid), load on cpus $load_cpus," \
     "TLS threads on cpus ${tls_threads_cpus:-$server_cpus}, a $key_type server key"
status=0
taskset -c "$load_cpus" "$java" -jar "$bench_jar" handshakes-beside --connect "$address" --tls-ca "$work/tls/ca.pem" \
  --server-pid "$pid" "${metrics[@]}" "${harness[@]}" || status=$?
if grep -q "WARN\|ERROR" "$work/server.log"; then
  echo "# the server's warnings:"; grep "WARN\|ERROR" "$work/server.log" | tail -20
fi
exit "$status"
