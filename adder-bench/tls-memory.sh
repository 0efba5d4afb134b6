#!/usr/bin/env bash
# Live heap per idle connection, plain and TLS, for Adder's daemon and the Netty peer side by side in
# one sitting, and what one bare server SSLEngine holds after a TLS 1.3 handshake (the part of a TLS
# connection that is the engine's): adder-bench's tls-memory command, with a throwaway CA and server
# certificate made here. Each server runs in a JVM of its own, with the flags after "--" (default: the
# README's recommended flags, with a 256 MB heap bound).
#
#   mvn -B -DskipTests package        # once: builds the jars this script runs
#   adder-bench/tls-memory.sh [--conns N] [--subjects LIST] [--tls-key-type rsa2048|ec256]
#                             [--tls-engine openssl|jdk] [--tls-ciphers LIST (with jdk)] [-- JVM_FLAGS...]
#
# Subjects (default engine,adder-tcp,adder-tls,netty-tcp,netty-tls; netty-openssl too if asked): see
# TlsMemory's class comment. About 1 minute per subject with 2,000 connections on a machine at rest.
set -euo pipefail

conns=2000
subjects=engine,adder-tcp,adder-tls,netty-tcp,netty-tls
key_type=rsa2048
engine=openssl
ciphers=()
flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) conns=$2; shift 2 ;;
    --subjects) subjects=$2; shift 2 ;;
    --tls-key-type) key_type=$2; shift 2 ;;
    --tls-engine) engine=$2; shift 2 ;;
    --tls-ciphers) ciphers=(--tls-ciphers "$2"); shift 2 ;;
    --) shift; flags=(-- "$@"); break ;;
    *) echo "tls-memory.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/lib.sh"
make_test_certs "$work/tls" "$key_type"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $("$java" -version 2>&1 | head -1), a $key_type server key"
"$java" -jar "$bench_jar" tls-memory --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key" \
  --tls-ca "$work/tls/ca.pem" --conns "$conns" --subjects "$subjects" --tls-engine "$engine" \
  "${ciphers[@]}" --server-jar "$server_jar" "${flags[@]}"
