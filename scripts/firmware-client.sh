# shellcheck shell=bash
# Sourced by the scripts/firmware-*.sh helpers: one request line to the signerd firmware daemon's
# line protocol over nc, and the byte helpers they share. Needs only bash, nc, openssl, coreutils.
# Environment: FIRMWARE_HOST (127.0.0.1), FIRMWARE_PORT (9998), FIRMWARE_TIMEOUT seconds (30).

FIRMWARE_HOST=${FIRMWARE_HOST:-127.0.0.1}
FIRMWARE_PORT=${FIRMWARE_PORT:-9998}
FIRMWARE_TIMEOUT=${FIRMWARE_TIMEOUT:-30}
# OpenBSD nc (Debian's netcat-openbsd) needs -N to half-close after the request, so a daemon run
# with --keep-open still ends the exchange; without --keep-open the daemon closes by itself.
FW_NC_SHUTDOWN=()
fw_nc_help=$(nc -h 2>&1 || true)
if [[ $fw_nc_help == *"-N"*"hutdown"* ]]; then FW_NC_SHUTDOWN=(-N); fi

# fw_request "<VERB args...>": prints the value after "OK " (no newline); an ERR line goes to
# stderr and the function fails, so `set -e` callers stop before touching any file.
fw_request() {
  local reply
  if ! reply=$(printf '%s\n' "$1" | nc "${FW_NC_SHUTDOWN[@]}" -w "$FIRMWARE_TIMEOUT" "$FIRMWARE_HOST" "$FIRMWARE_PORT"); then
    echo "${0##*/}: no answer from $FIRMWARE_HOST:$FIRMWARE_PORT" >&2
    return 1
  fi
  case "$reply" in
    "OK "*) printf '%s' "${reply#OK }" ;;
    "") echo "${0##*/}: empty answer from $FIRMWARE_HOST:$FIRMWARE_PORT" >&2; return 1 ;;
    *) echo "${0##*/}: ${reply:0:300}" >&2; return 1 ;;
  esac
}

# hex_of FILE-OR-STDIN: lowercase hex, no separators.
hex_of() { od -An -v -tx1 "$@" | tr -d ' \n'; }

# bin_of HEX: the bytes (pure bash printf, no xxd).
bin_of() {
  local hex=$1 out='' i
  for ((i = 0; i < ${#hex}; i += 2)); do out+="\\x${hex:i:2}"; done
  # shellcheck disable=SC2059 # the format is only \xHH escapes built just above
  printf "$out"
}

# fw_uint NAME VALUE MAX: prints VALUE as a plain decimal number if it is all digits and at most
# MAX; otherwise says so on stderr and fails. Leading zeros are read as decimal ("010" is 10):
# never hand user input to $(( )) directly, which reads "010" as octal 8 and refuses "08".
fw_uint() {
  local name=$1 value=$2 max=$3 digits
  if [[ $value =~ ^[0-9]+$ ]]; then
    digits=${value#"${value%%[!0]*}"}
    digits=${digits:-0}
    # The length check first: more digits than MAX could overflow bash's 64-bit arithmetic.
    if [ "${#digits}" -le "${#max}" ] && [ "$((10#$digits))" -le "$max" ]; then
      printf '%s' "$((10#$digits))"
      return 0
    fi
  fi
  echo "${0##*/}: $name must be a decimal number from 0 to $max, not '${value:0:40}'" >&2
  return 1
}

# be32 / le32 / le16 N: N (decimal, checked by fw_uint) as fixed-width binary integers.
be32() {
  local n
  n=$(fw_uint "a 32-bit field" "$1" 4294967295) || return 1
  bin_of "$(printf '%02x%02x%02x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))"
}
le32() {
  local n
  n=$(fw_uint "a 32-bit field" "$1" 4294967295) || return 1
  bin_of "$(printf '%02x%02x%02x%02x' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"
}
le16() {
  local n
  n=$(fw_uint "a 16-bit field" "$1" 65535) || return 1
  bin_of "$(printf '%02x%02x' $((n & 255)) $((n >> 8 & 255)))"
}

# fw_check_selector NAME: the daemon refuses bad names too; checking here gives a clearer message.
fw_check_selector() {
  [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$ ]] || { echo "${0##*/}: bad machine/distro name: $1" >&2; return 1; }
}

# fw_install <file> <dest>: puts <file> at <dest> in one rename. The result is made in a temporary
# directory, often another file system (tmpfs), where `mv` would copy then unlink: an interruption
# could leave <dest> truncated, and <dest> is often the input itself (a module signed in place). So
# it is copied beside <dest> first; only the rename, atomic within one directory, replaces <dest>.
fw_install() {
  local dir tmp
  dir=$(dirname -- "$2")
  [ -d "$dir" ] || { echo "${0##*/}: $dir: no such directory" >&2; return 1; }
  tmp=$(mktemp "$dir/.${2##*/}.XXXXXX") || return 1
  if ! cp -p -- "$1" "$tmp" || ! mv -f -- "$tmp" "$2"; then
    rm -f -- "$tmp"
    return 1
  fi
}
