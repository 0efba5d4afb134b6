#!/bin/sh
# Restarts adder instances behind HAProxy one at a time, without a call failing:
#   rolling-restart.sh a=unix:/run/adder/a/adder.sock b=tcp:127.0.0.1:7401
#   RESTART=/usr/local/sbin/restart-adder rolling-restart.sh a=tls:adder-a.internal:7401 b=tls:adder-b.internal:7401
# Each argument is an instance of adder@.service, named as its server in haproxy.cfg, and the address
# it listens on (a tls: one as HAProxy reaches it, with a name its certificate holds). For each, in turn:
#   1. drain: HAProxy sends it no new connections;
#   2. restart (systemctl restart, or RESTART): SIGTERM, the daemon answers what it received and closes
#      its connections; the clients replay what it did not read, through HAProxy, on the other instance;
#   3. wait until the new daemon answers a request itself (its JVM takes about half a second to
#      start, which HAProxy's health check may or may not have noticed), over TLS for a tls: address,
#      with HAProxy's own certificate;
#   4. ready: HAProxy sends it connections again once its health check passes (status UP).
# If the restart fails, or the instance does not answer or come UP in time (or the script is
# interrupted), the instance drained is put back to ready, where HAProxy's health check decides
# again, and the script stops there with a non-zero status, saying so; later instances are left as
# they were. By hand: echo "set server adders/INSTANCE state ready" | socat stdio unix-connect:ADMIN
# Needs socat, root (systemctl, the admin socket, HAProxy's key), and the distribution in ADDER_HOME.
#
#   ADMIN       HAProxy's admin socket (default /run/haproxy/adder-admin.sock)
#   BACKEND     the backend in haproxy.cfg (default adders)
#   ADDER_HOME  where the distribution is unpacked (default /opt/adder)
#   TIMEOUT     seconds to wait for an instance to answer, then to be UP (default 60)
#   RESTART     a command that restarts an instance, given its name (default: systemctl restart
#               adder@INSTANCE, on this machine); for daemons on other hosts, one that does it there,
#               say a script running: ssh "root@adder-$1.internal" systemctl restart "adder@$1"
#   TLS_CA TLS_CERT TLS_KEY   for tls: addresses, the CA the daemons' certificates chain to and the
#               client certificate and key to present: by default HAProxy's, as haproxy-tls.cfg names
#               them (/etc/haproxy/adder-tls/ca.pem, haproxy.pem, haproxy.pem.key)
set -eu
ADMIN=${ADMIN:-/run/haproxy/adder-admin.sock}
BACKEND=${BACKEND:-adders}
ADDER_HOME=${ADDER_HOME:-/opt/adder}
TIMEOUT=${TIMEOUT:-60}
TLS_CA=${TLS_CA:-/etc/haproxy/adder-tls/ca.pem}
TLS_CERT=${TLS_CERT:-/etc/haproxy/adder-tls/haproxy.pem}
TLS_KEY=${TLS_KEY:-/etc/haproxy/adder-tls/haproxy.pem.key}
restart_here() { systemctl restart "adder@$1"; }
RESTART=${RESTART:-restart_here}
[ $# -gt 0 ] || { echo "usage: $0 INSTANCE=ADDRESS..." >&2; exit 2; }

haproxy_cmd() { echo "$1" | socat stdio "unix-connect:$ADMIN"; }
# the status column (18th) of the server's line in `show stat`: UP, DOWN, DRAIN, "UP 1/2" ...
status() { haproxy_cmd "show stat" | awk -F, -v b="$BACKEND" -v s="$1" '$1 == b && $2 == s { print $18 }'; }
# the health check's own request, 123456789012345 + -98765432109876; under TLS as HAProxy sends it
answers() {
  case $1 in
    tls:*) set -- --connect "$1" --tls-ca "$TLS_CA" --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY" ;;
    *) set -- --connect "$1" ;;
  esac
  [ "$("$ADDER_HOME/bin/adder" "$@" --timeout 2s 123456789012345 -98765432109876 2>/dev/null)" = 24691356902469 ]
}
wait_for() { # DESCRIPTION COMMAND...
  what=$1; shift; tries=0
  until "$@"; do
    tries=$((tries + 1))
    if [ "$tries" -ge "$((TIMEOUT * 4))" ]; then echo "$instance: not $what after ${TIMEOUT}s; stopping here" >&2; exit 1; fi
    sleep 0.25
  done
}
is_up() { [ "$(status "$instance")" = UP ]; }
drained= # the instance drained and not yet made ready again
ready_again() { # at any exit: a drained instance is made ready again, where its health check decides
  [ -n "$drained" ] || return 0
  if answer=$(haproxy_cmd "set server $BACKEND/$drained state ready") && [ -z "$answer" ]; then
    echo "$drained: put back to ready (out of drain): HAProxy's health check decides whether it gets connections" >&2
  else
    echo "$drained: could not put it back to ready ($answer), it may be left in DRAIN; by hand:" \
      "echo \"set server $BACKEND/$drained state ready\" | socat stdio unix-connect:$ADMIN" >&2
  fi
}
trap ready_again EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# every argument checked before any instance is touched
for arg in "$@"; do
  instance=${arg%%=*}; address=${arg#*=}
  [ "$instance" != "$arg" ] && [ -n "$address" ] || { echo "not INSTANCE=ADDRESS: $arg" >&2; exit 2; }
  [ -n "$(status "$instance")" ] || { echo "no server $instance in backend $BACKEND" >&2; exit 1; }
  case $address in
    tls:*) for file in "$TLS_CA" "$TLS_CERT" "$TLS_KEY"; do
             [ -r "$file" ] || { echo "$instance: cannot read $file (TLS_CA, TLS_CERT, TLS_KEY)" >&2; exit 2; }
           done ;;
  esac
done
for arg in "$@"; do
  instance=${arg%%=*}; address=${arg#*=}
  echo "$instance: drain"
  drained=$instance
  haproxy_cmd "set server $BACKEND/$instance state drain" >/dev/null
  echo "$instance: restart"
  "$RESTART" "$instance" || { echo "$instance: the restart failed (exit status $?); stopping here" >&2; exit 1; }
  wait_for answering answers "$address"
  echo "$instance: answers; ready"
  haproxy_cmd "set server $BACKEND/$instance state ready" >/dev/null
  drained=
  wait_for up is_up
  echo "$instance: up"
done
