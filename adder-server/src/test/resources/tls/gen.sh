#!/usr/bin/env bash
# Makes the test certificates of this directory (test use only: the keys are public). Run it again
# to renew them; they are valid for 100 years. Needs openssl.
#   ca.pem                           the test CA (its key is not kept)
#   server.pem / server.key          for localhost, 127.0.0.1 and ::1, signed by the CA (PKCS#8 key)
#   server2.pem / server2.key        a second such pair, for reload tests
#   server.p12                       server.pem and its key as a PKCS#12 keystore, password "secret"
#   client.pem / client.key          a client certificate (CN=adder-test-client) signed by the CA
#   other-ca.pem, other-client.pem / other-client.key   a CA nobody trusts, and a client it signed
#   server-pkcs1.key                 server.key as a PKCS#1 RSA key (a format the loader refuses)
set -euo pipefail
cd "$(dirname "$0")"
days=36500
ca() { # NAME SUBJECT
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days $days -subj "$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # NAME SUBJECT CA EXT
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" -days $days \
    -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
server_ext='subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth'
client_ext='extendedKeyUsage=clientAuth'
ca ca "/CN=Adder test CA"
ca other-ca "/CN=Adder untrusted test CA"
leaf server "/CN=localhost" ca "$server_ext"
leaf server2 "/CN=localhost" ca "$server_ext"
leaf client "/CN=adder-test-client" ca "$client_ext"
leaf other-client "/CN=adder-untrusted-client" other-ca "$client_ext"
openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem -out server.p12 -passout pass:secret
openssl rsa -in server.key -traditional -out server-pkcs1.key 2>/dev/null
rm -f ./*.srl ca.key other-ca.key
