#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a program against it
# from outside the tree, once with pkg-config and once with find_package.
# The pkg-config build is warning-free (-Werror) twice: as is, and with every
# deprecated OpenSSL API hidden (OPENSSL_API_COMPAT=30000 and
# OPENSSL_NO_DEPRECATED), so the header never leans on what a newer OpenSSL
# removed or deprecated (4.0 deprecates more). The program checks
# tickless_features() against the OpenSSL version it was compiled with.
#   check.sh BUILD_DIR SOURCE_DIR C_COMPILER
set -euo pipefail
build=$1 src=$2 cc=$3
prefix=$(mktemp -d "${TMPDIR:-/tmp}/tickless-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build" --prefix "$prefix/usr" >/dev/null
pc=$(dirname "$(find "$prefix" -name tickless.pc | head -n 1)")
libdir=$(dirname "$pc")

echo "== pkg-config"
export PKG_CONFIG_PATH=$pc
strict=(-Wall -Wextra -Wpedantic -Werror)
# shellcheck disable=SC2046 # word splitting of flags is intended
"$cc" -std=c11 "${strict[@]}" $(pkg-config --cflags tickless) \
  "$src/tests/install/consumer.c" -o "$prefix/consumer-pc" \
  $(pkg-config --libs tickless)
LD_LIBRARY_PATH=$libdir "$prefix/consumer-pc"

echo "== pkg-config, no deprecated OpenSSL API"
# shellcheck disable=SC2046
"$cc" -std=c11 "${strict[@]}" -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED \
  $(pkg-config --cflags tickless) "$src/tests/install/consumer.c" \
  -o "$prefix/consumer-nodep" $(pkg-config --libs tickless)
LD_LIBRARY_PATH=$libdir "$prefix/consumer-nodep"

echo "== static library, beside the application's own tl_* functions"
"$cc" -std=c11 "${strict[@]}" -DTICKLESS_STATIC_DEFINE \
  $(pkg-config --cflags tickless) "$src/tests/install/consumer.c" \
  "$src/tests/install/collide.c" -o "$prefix/consumer-static" \
  "$libdir/libtickless.a" $(pkg-config --libs openssl) -lpthread
"$prefix/consumer-static"

if [[ -d $build/man/man3 ]]; then
  echo "== man pages"
  mandir=$prefix/usr/share/man
  for page in "$build"/man/man3/*.3; do
    [[ -f $mandir/man3/${page##*/} ]] || { echo "not installed: ${page##*/}"; exit 1; }
  done
  if command -v man >/dev/null; then
    MANPATH=$mandir man -w 3 tickless_conn_read
  fi
fi

echo "== find_package"
cmake -S "$src/tests/install/consumer" -B "$prefix/cmake-build" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix/usr" >/dev/null
cmake --build "$prefix/cmake-build" >/dev/null
LD_LIBRARY_PATH=$libdir "$prefix/cmake-build/consumer"
