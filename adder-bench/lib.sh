# Shared by the scripts of adder-bench; sourced, not run.
# Sets root, server_jar, bench_jar, java and work (a fresh directory); on exit, stops every
# process whose PID is in pids and removes work.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server_jar=$root/adder-server/target/adder-server-all.jar
bench_jar=$root/adder-bench/target/adder-bench-all.jar
if [ ! -f "$server_jar" ] || [ ! -f "$bench_jar" ]; then
  echo "$(basename "$0"): build the jars first: mvn -B -DskipTests package" >&2
  exit 2
fi
java=${JAVA:-java}
jcmd="$(dirname "$(readlink -f "$(command -v "$java")")")/jcmd"
work=$(mktemp -d "/tmp/adder-$(basename "$0" .sh).XXXXXX")
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

free_tcp_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# live_heap PID: live heap bytes, the class histogram's total, taken after the full GC it triggers
live_heap() { "$jcmd" "$1" GC.class_histogram | awk '/^Total/ {print $3}'; }

# listening_address LOG PID: waits for a server's "listening on" line; prints its first address
listening_address() {
  local log=$1 pid=$2
  for _ in $(seq 1 300); do
    if grep -q "listening on" "$log"; then
      grep -o "listening on [^;]*" "$log" | head -1 | sed 's/listening on //; s/,.*//'
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "$(basename "$0"): the server did not start:" >&2
  cat "$log" >&2
  exit 1
}

# make_test_certs DIR [rsa2048|ec256]: a throwaway CA (DIR/ca.pem) and a server certificate for
# 127.0.0.1, localhost and ::1 signed by it (DIR/server.pem, its PEM PKCS#8 key DIR/server.key): what
# Adder's daemon and the Netty peer both take (--tls-cert, --tls-key), and the load's --tls-ca. Needs openssl.
make_test_certs() {
  local dir=$1 kind=${2:-rsa2048} key_args
  case "$kind" in
    rsa2048) key_args=(-newkey rsa:2048) ;;
    ec256) key_args=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    *) echo "$(basename "$0"): unknown key type $kind (rsa2048 or ec256)" >&2; exit 2 ;;
  esac
  mkdir -p "$dir"
  openssl req -x509 "${key_args[@]}" -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 \
    -subj "/CN=adder-bench throwaway CA" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req "${key_args[@]}" -nodes -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' > "$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/server.pem" -days 2 -extfile "$dir/server.ext" 2>/dev/null
  rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl" "$dir/ca.key"
  grep -q "BEGIN PRIVATE KEY" "$dir/server.key" || { echo "$(basename "$0"): openssl made no PKCS#8 key" >&2; exit 1; }
}
