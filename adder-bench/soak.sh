#!/usr/bin/env bash
# A soak run of the daemon: N connections for M minutes, mixed ping-pong, pipelined and abusive
# (see Soak.java), every good answer checked. Prints the daemon's live heap after a full GC,
# its open file descriptors and RSS, at the start and at the end, once the abusive connections
# left behind have been closed by the idle timeout. Nothing should grow across the run.
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs
#   adder-bench/soak.sh [--conns N] [--minutes M] [--transport unix|tcp]
set -euo pipefail

conns=1000
minutes=5
transport=unix
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) conns=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --transport) transport=$2; shift 2 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
server_jar=$(ls "$root"/adder-server/target/adder-server-*-all.jar 2>/dev/null | head -1 || true)
bench_jar=$(ls "$root"/adder-bench/target/adder-bench-*-all.jar 2>/dev/null | head -1 || true)
if [ -z "$server_jar" ] || [ -z "$bench_jar" ]; then
  echo "soak.sh: build the jars first: mvn -B -DskipTests package" >&2
  exit 2
fi
java=${JAVA:-java}
jcmd="$(dirname "$(readlink -f "$(command -v "$java")")")/jcmd"
work=$(mktemp -d /tmp/adder-soak.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$transport" = unix ]; then listen="unix:$work/adder.sock"; else listen="tcp:127.0.0.1:0"; fi
"$java" -XX:+UseSerialGC -Xms8m -Xmx64m -jar "$server_jar" --listen "$listen" --no-jmx \
    --idle-timeout 5s --max-pending-output 64k > "$work/server.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 1 300); do grep -q "listening on" "$work/server.log" && break; sleep 0.1; done
address=$(grep -o "listening on [^;]*" "$work/server.log" | head -1 | sed 's/listening on //')

measure() {
  local heap fds rss
  heap=$("$jcmd" "$server" GC.class_histogram | awk '/^Total/ {print $3}')
  fds=$(ls "/proc/$server/fd" | wc -l)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
  echo "$1: live heap $((heap / 1024)) KiB, open fds $fds, RSS $((rss / 1024)) MB"
}

sleep 2
measure "start"
"$java" -jar "$bench_jar" soak --connect "$address" --conns "$conns" --minutes "$minutes"
# let the idle timeout close what the abusive clients left, then measure again
sleep 8
measure "end  "
grep -c WARN "$work/server.log" | xargs echo "server warnings:"
