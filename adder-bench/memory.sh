#!/usr/bin/env bash
# The daemon's memory: resident set idle and with N idle connections, and live Java heap per
# idle connection ((heap with N - heap with none) / N, each after a full GC, from jcmd).
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs
#   adder-bench/memory.sh [--conns N] [--transport unix|tcp] [-- JVM_FLAGS...]
#
# JVM flags after "--" are the daemon's (default: the README's recommended flags).
set -euo pipefail

conns=10000
transport=unix
flags=(-XX:+UseSerialGC -Xms8m -Xmx64m -XX:AutoBoxCacheMax=20000)
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) conns=$2; shift 2 ;;
    --transport) transport=$2; shift 2 ;;
    --) shift; flags=("$@"); break ;;
    *) echo "memory.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"

if [ "$transport" = unix ]; then listen="unix:$work/adder.sock"; else listen="tcp:127.0.0.1:0"; fi
"$java" "${flags[@]}" -jar "$server_jar" --listen "$listen" --no-jmx > "$work/server.log" 2>&1 &
server=$!
pids+=("$server")
address=$(listening_address "$work/server.log" "$server")

sleep 2
heap0=$(live_heap "$server"); rss0=$(rss_kb "$server")
"$java" -jar "$bench_jar" hold --connect "$address" --conns "$conns" --seconds 600 > "$work/hold.out" 2>&1 &
hold=$!
pids+=("$hold")
for _ in $(seq 1 1200); do
  grep -q "^holding" "$work/hold.out" && break
  kill -0 "$hold" 2>/dev/null || { cat "$work/hold.out" >&2; exit 1; }
  sleep 0.1
done
heap1=$(live_heap "$server"); rss1=$(rss_kb "$server")
echo "daemon flags: ${flags[*]}; $transport; $("$java" -version 2>&1 | head -1)"
echo "idle:                 RSS $((rss0 / 1024)) MB, live heap $((heap0 / 1024)) KiB"
echo "$conns idle connections: RSS $((rss1 / 1024)) MB, live heap $((heap1 / 1024)) KiB"
awk -v h0="$heap0" -v h1="$heap1" -v n="$conns" -v r0="$rss0" -v r1="$rss1" \
  'BEGIN {printf "per idle connection:  %.0f bytes of live heap, %.1f KiB of RSS\n", (h1 - h0) / n, (r1 - r0) / n}'
