# shellcheck shell=bash
# Shared helpers for the scripts in this folder. Source it; do not run it.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The repository root, resolved through symlinks.
# shellcheck disable=SC2034 # used by the scripts that source this file
TL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

# apt, dpkg and chroot live in sbin, which a non-login root shell (or CI) may
# not have on its PATH.
case ":$PATH:" in
  *:/usr/sbin:*) ;;
  *) PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin ;;
esac

# tl_log MSG...: a progress line on stderr, prefixed with the script's name.
tl_log() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
}

# tl_die MSG...: print an error and exit 1.
tl_die() {
  printf '%s: error: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

# tl_need_root: most of what these scripts do (apt-get, mount, chroot) needs it.
tl_need_root() {
  [[ $(id -u) -eq 0 ]] || tl_die "must run as root (apt-get, mount and chroot need it)"
}

# tl_missing_packages PKG...: print, one a line, the Debian packages that are
# not installed. One dpkg-query call; a package dpkg has never heard of counts
# as missing.
tl_missing_packages() {
  local -A ok=()
  local name status
  while IFS=$'\t' read -r name status; do
    [[ $status == installed ]] && ok[$name]=1
  done < <(dpkg-query -W -f='${Package}\t${db:Status-Status}\n' "$@" 2>/dev/null || true)
  local p
  for p in "$@"; do
    [[ -n ${ok[$p]:-} ]] || printf '%s\n' "$p"
  done
}

# tl_run_quiet LABEL CMD...: run CMD with its output captured; on failure show
# the tail of that output and return CMD's status. Keeps logs short when all is
# well and still shows the error when it is not.
tl_run_quiet() {
  local label=$1 log rc=0
  shift
  log=$(mktemp "${TMPDIR:-/tmp}/tickless-${label//[^A-Za-z0-9]/_}.XXXXXX")
  "$@" >"$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    printf '%s: %s failed (exit %d); last lines of its output:\n' "${0##*/}" "$label" "$rc" >&2
    tail -n 40 "$log" >&2
  fi
  rm -f "$log"
  return "$rc"
}

# tl_apt_ensure PKG...: install whichever of PKG are missing. Does nothing, and
# does not touch the network, when all are present; otherwise runs
# `apt-get update` once and installs only the missing ones.
tl_apt_ensure() {
  local -a missing
  mapfile -t missing < <(tl_missing_packages "$@")
  [[ ${#missing[@]} -eq 0 ]] && return 0
  tl_need_root
  tl_log "installing: ${missing[*]}"
  local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y
                -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
  tl_run_quiet "apt-get update" "${apt[@]}" update || return 1
  tl_run_quiet "apt-get install" "${apt[@]}" install --no-install-recommends \
    "${missing[@]}" || return 1
  mapfile -t missing < <(tl_missing_packages "$@")
  if [[ ${#missing[@]} -ne 0 ]]; then
    tl_log "still missing after apt-get install: ${missing[*]}"
    return 1
  fi
}
