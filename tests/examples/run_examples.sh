#!/usr/bin/env bash
# Runs the programs in examples/ the way a user would, against local servers,
# and checks what they print.
#
#   run_examples.sh BIN_DIR
#
#  - blocking_client over DTLS and TLS against GnuTLS's echo server
#    (gnutls-serv --echo, a stack tickless did not write), and
#  - over QUIC against examples/quic_echo_server (when this OpenSSL has a
#    QUIC server): four clients at once, each must get its own line back,
#    then quic_client's 8 streams on one connection, each checked.
# Every client verifies the server against a throw-away certificate made
# here (TICKLESS_EXAMPLE_CAFILE). Exit 0 only if every check passed.
set -euo pipefail
bin=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/tickless-examples.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
export TICKLESS_EXAMPLE_CAFILE=$work/cert.pem

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# expect_echo PROTO PORT ALPN MESSAGE: the client prints exactly MESSAGE.
expect_echo() {
  local out
  out=$("$bin/blocking_client" "$1" localhost "$2" "$3" "$4")
  if [[ $out != "${4%$'\n'}" ]]; then
    echo "FAIL $1: expected '${4%$'\n'}', got '$out'" >&2
    return 1
  fi
  echo "ok   $1: '$out' came back"
}

# Retries while a server is still starting (at most 5 s).
with_retries() {
  local i
  for i in $(seq 1 50); do
    "$@" 2>/dev/null && return 0
    sleep 0.1
  done
  "$@"
}

for proto in dtls tls; do
  if ! command -v gnutls-serv >/dev/null; then
    echo "gnutls-serv missing (scripts/install-deps installs gnutls-bin)" >&2
    exit 1
  fi
  port=$(free_port)
  udp=()
  [[ $proto == dtls ]] && udp=(--udp)
  gnutls-serv "${udp[@]}" --echo -p "$port" --x509certfile "$work/cert.pem" \
    --x509keyfile "$work/key.pem" >"$work/gnutls-$proto.log" 2>&1 &
  pids+=($!)
  with_retries expect_echo "$proto" "$port" "" "hello over $proto"$'\n'
done

if [[ -x $bin/quic_echo_server ]]; then
  port=$(free_port)
  # The server stops when its stdin ends: keep it open with a FIFO.
  mkfifo "$work/stdin"
  "$bin/quic_echo_server" "$work/cert.pem" "$work/key.pem" "$port" 4 \
    <"$work/stdin" >"$work/server.log" 2>&1 &
  server=$!
  pids+=($server)
  exec 3>"$work/stdin"
  with_retries expect_echo quic "$port" echo "first QUIC client"$'\n'
  fails=0
  for i in 1 2 3 4; do
    expect_echo quic "$port" echo "QUIC client $i, concurrently"$'\n' &
    pids+=($!)
  done
  for p in "${pids[@]: -4}"; do wait "$p" || fails=$((fails + 1)); done
  # quic_client: 8 streams from 8 threads on one connection, 200 kB each,
  # every stream's echo checked by the client itself.
  if out=$("$bin/quic_client" localhost "$port" 8 200000); then
    n=$(grep -c "bytes echoed intact" <<<"$out" || true)
    if [[ $n -eq 8 ]]; then
      echo "ok   quic_client: 8 streams echoed intact"
    else
      echo "FAIL quic_client: $n of 8 streams reported intact:" >&2
      echo "$out" >&2
      fails=$((fails + 1))
    fi
  else
    echo "FAIL quic_client exited with an error:" >&2
    echo "$out" >&2
    fails=$((fails + 1))
  fi
  exec 3>&-
  if ! wait "$server"; then
    echo "FAIL: quic_echo_server exited with an error:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  # 5 one-stream clients and quic_client's 8 streams, all ended by a FIN.
  if ! grep -q "served 6 connections, 13 streams" "$work/server.log"; then
    echo "FAIL: quic_echo_server's count is off:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  [[ $fails -eq 0 ]] || { echo "FAIL: $fails QUIC clients" >&2; exit 1; }
  echo "ok   quic_echo_server stopped cleanly: $(tail -1 "$work/server.log")"
else
  echo "skip quic: this OpenSSL has no QUIC server (quic_echo_server not built)"
fi
