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
#    one client each at 127.0.0.1 and ::1 (the server is dual-stack), then
#    quic_client's 8 streams on one connection, each checked;
#  - kv_client against examples/kv_server (same condition): PUT, GET, DEL
#    round trips, eight clients at once writing and then reading keys of
#    their own, a value of the largest size accepted and a request too
#    long refused, every reply checked, and the count of requests the
#    server answered once its stdin has ended.
# Clients are given "localhost", as a newcomer would type it: it resolves
# to ::1 first on most systems, 127.0.0.1 on some, so both families get
# used. Every client verifies the server against a throw-away certificate
# made here (TICKLESS_EXAMPLE_CAFILE). Exit 0 only if every check passed.
#
# A program this needs that is not installed is a failure, not a skip:
# scripts/test (CI) must never pass with part of the examples unchecked.
# scripts/install-deps installs every one on the host; the roots of
# scripts/dev-root have them all.
set -euo pipefail
bin=$1

# need PROGRAM PACKAGE: fail, naming PACKAGE, unless PROGRAM is installed.
missing=0
need() {
  command -v "$1" >/dev/null && return 0
  echo "FAIL: $1 is not installed (Debian package $2; scripts/install-deps installs it)" >&2
  missing=1
}
need openssl openssl         # the throw-away certificate
need python3 python3         # free ports
need gnutls-serv gnutls-bin  # the DTLS and TLS echo server
[[ $missing -eq 0 ]] || exit 1

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
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" 2>/dev/null
export TICKLESS_EXAMPLE_CAFILE=$work/cert.pem

# A UDP port that was free a moment ago on IPv6 and IPv4 alike (the
# servers here listen on both), or on IPv4 on a host without IPv6.
free_port() {
  python3 - <<'EOF'
import socket
try:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 0))
except OSError:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
print(s.getsockname()[1])
EOF
}

# Whether this host has IPv6 loopback (::1) to test against.
have_ipv6() {
  python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' 2>/dev/null
}

# expect_echo PROTO HOST PORT ALPN MESSAGE: the client prints exactly
# MESSAGE.
expect_echo() {
  local out
  out=$("$bin/blocking_client" "$1" "$2" "$3" "$4" "$5")
  if [[ $out != "${5%$'\n'}" ]]; then
    echo "FAIL $1 $2: expected '${5%$'\n'}', got '$out'" >&2
    return 1
  fi
  echo "ok   $1 $2: '$out' came back"
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

# start_server NAME PORT: starts the example server NAME with 4 workers
# on PORT in the background, logging to $work/NAME.log. It stops when its
# stdin ends: a FIFO held open until stop_server keeps it open.
start_server() {
  mkfifo "$work/$1.stdin"
  "$bin/$1" "$work/cert.pem" "$work/key.pem" "$2" 4 \
    <"$work/$1.stdin" >"$work/$1.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  exec {server_stdin}>"$work/$1.stdin"
}

# stop_server NAME COUNTS [WHAT]: ends the stdin of the server NAME that
# start_server started last; it must exit with status 0 and its log must
# say COUNTS (a grep pattern: what it served), or the run fails, showing
# the log (and WHAT was expected).
stop_server() {
  exec {server_stdin}>&-
  if ! wait "$server_pid"; then
    echo "FAIL: $1 exited with an error:" >&2
    cat "$work/$1.log" >&2
    exit 1
  fi
  if ! grep -q "$2" "$work/$1.log"; then
    echo "FAIL: $1's count is off${3:+ ($3)}:" >&2
    cat "$work/$1.log" >&2
    exit 1
  fi
}

for proto in dtls tls; do
  port=$(free_port)
  udp=()
  [[ $proto == dtls ]] && udp=(--udp)
  gnutls-serv "${udp[@]}" --echo -p "$port" --x509certfile "$work/cert.pem" \
    --x509keyfile "$work/key.pem" >"$work/gnutls-$proto.log" 2>&1 &
  pids+=($!)
  with_retries expect_echo "$proto" localhost "$port" "" \
    "hello over $proto"$'\n'
done

if [[ -x $bin/quic_echo_server ]]; then
  port=$(free_port)
  start_server quic_echo_server "$port"
  with_retries expect_echo quic localhost "$port" echo \
    "first QUIC client"$'\n'
  fails=0
  for i in 1 2 3 4; do
    expect_echo quic localhost "$port" echo \
      "QUIC client $i, concurrently"$'\n' &
    pids+=($!)
  done
  for p in "${pids[@]: -4}"; do wait "$p" || fails=$((fails + 1)); done
  # One socket serves both families: "localhost" alone would not show it,
  # as a client that gets no answer from one family tries the other. So far: 5
  # connections of one stream each.
  streams=5
  hosts=(127.0.0.1)
  if have_ipv6; then
    hosts+=(::1)
  else
    echo "skip quic ::1: this host has no IPv6"
  fi
  for h in "${hosts[@]}"; do
    expect_echo quic "$h" "$port" echo "QUIC client at $h"$'\n' \
      || fails=$((fails + 1))
    streams=$((streams + 1))
  done
  # quic_client: 8 streams from 8 threads on one connection, 200 kB each,
  # every stream's echo checked by the client itself.
  streams=$((streams + 8))
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
  # Every client's every stream, all ended by a FIN.
  stop_server quic_echo_server \
    "served $streams streams ($streams echoed to the end)"
  [[ $fails -eq 0 ]] || { echo "FAIL: $fails QUIC clients" >&2; exit 1; }
  echo "ok   quic_echo_server stopped cleanly:" \
    "$(tail -1 "$work/quic_echo_server.log")"
else
  echo "skip quic: this OpenSSL has no QUIC server (quic_echo_server not built)"
fi

if [[ -x $bin/kv_server ]]; then
  kv_port=$(free_port)
  start_server kv_server "$kv_port"

  # expect_kv REPLY WORD...: "kv_client localhost PORT WORD..." prints
  # exactly REPLY (only the command and key are repeated here: a value
  # may be long).
  expect_kv() {
    local want=$1 out
    shift
    out=$("$bin/kv_client" localhost "$kv_port" "$@")
    if [[ $out != "$want" ]]; then
      echo "FAIL kv $1 ${2:-}: expected '$want', got '${out:0:80}'" >&2
      return 1
    fi
    echo "ok   kv $1 ${2:-}: '${out:0:40}'"
  }

  # A GET first, while the server may still be starting: asking again
  # changes nothing.
  fails=0
  with_retries expect_kv NOT_FOUND GET greeting || fails=$((fails + 1))
  expect_kv OK PUT greeting hello world || fails=$((fails + 1))
  expect_kv "VALUE hello world" GET greeting || fails=$((fails + 1))
  expect_kv OK DEL greeting || fails=$((fails + 1))
  expect_kv NOT_FOUND GET greeting || fails=$((fails + 1))
  expect_kv NOT_FOUND DEL greeting || fails=$((fails + 1))
  requests=6
  # Eight clients at once, each on a key of its own: all the PUTs, then
  # all the GETs, each must read its own value back.
  for op in PUT GET; do
    for i in 1 2 3 4 5 6 7 8; do
      if [[ $op == PUT ]]; then
        expect_kv OK PUT "key$i" "value $i" &
      else
        expect_kv "VALUE value $i" GET "key$i" &
      fi
      pids+=($!)
    done
    for p in "${pids[@]: -8}"; do wait "$p" || fails=$((fails + 1)); done
    requests=$((requests + 8))
  done
  # The limits: a value of 1024 bytes is stored, a request of 3000 bytes
  # is refused whole (ERROR too long).
  expect_kv OK PUT big "$(printf 'v%.0s' {1..1024})" || fails=$((fails + 1))
  expect_kv "ERROR too long" PUT big "$(printf 'v%.0s' {1..3000})" \
    || fails=$((fails + 1))
  requests=$((requests + 2))

  # Every request answered, FIN included; key1..key8 and big stored.
  stop_server kv_server "answered $requests requests; 9 keys stored" \
    "expected $requests requests"
  [[ $fails -eq 0 ]] || { echo "FAIL: $fails kv requests" >&2; exit 1; }
  echo "ok   kv_server stopped cleanly: $(tail -1 "$work/kv_server.log")"
else
  echo "skip kv: this OpenSSL has no QUIC server (kv_server not built)"
fi
