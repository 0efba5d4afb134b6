#!/usr/bin/env bash
# A soak run of the daemon: N connections for M minutes, mixed ping-pong, pipelined and abusive
# (see Soak.java), every good answer checked, repeated for R rounds against the same daemon.
# Prints the daemon's live heap after a full GC, its open file descriptors and RSS at the start
# and after each round, once the idle timeout has closed what abusive clients left behind. The
# first round may size tables for N connections; nothing should grow from one round to the next.
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs
#   adder-bench/soak.sh [--conns N] [--minutes M] [--rounds R] [--transport unix|tcp]
set -euo pipefail

conns=1000
minutes=5
rounds=2
transport=unix
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) conns=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --transport) transport=$2; shift 2 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/lib.sh"

if [ "$transport" = unix ]; then listen="unix:$work/adder.sock"; else listen="tcp:127.0.0.1:0"; fi
"$java" -XX:+UseSerialGC -Xms8m -Xmx64m -XX:AutoBoxCacheMax=20000 -jar "$server_jar" --listen "$listen" --no-jmx \
    --idle-timeout 5s --max-pending-output 64k > "$work/server.log" 2>&1 &
server=$!
pids+=("$server")
address=$(listening_address "$work/server.log" "$server")

measure() {
  local heap fds rss
  heap=$(live_heap "$server")
  fds=$(ls "/proc/$server/fd" | wc -l)
  rss=$(rss_kb "$server")
  echo "$1: live heap $((heap / 1024)) KiB, open fds $fds, RSS $((rss / 1024)) MB"
}

sleep 2
measure "start  "
for round in $(seq 1 "$rounds"); do
  "$java" -jar "$bench_jar" soak --connect "$address" --conns "$conns" --minutes "$minutes"
  # let the idle timeout close what the abusive clients left, then measure again
  sleep 8
  measure "round $round"
done
echo "server warnings: $(grep -c WARN "$work/server.log" || true)"
