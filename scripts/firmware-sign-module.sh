#!/usr/bin/env bash
# Signs a kernel module in place through the signerd firmware daemon, as `sign-file` would: only the
# module's digest crosses the wire; the daemon returns the PKCS#7 blob; this appends blob, trailer, magic.
# Usage: firmware-sign-module.sh <machine> <sha256|sha384|sha512> <module.ko> [<dest.ko>]
set -euo pipefail
# shellcheck source=firmware-client.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/firmware-client.sh"

if [ $# -lt 3 ] || [ $# -gt 4 ]; then echo "usage: ${0##*/} <machine> <sha256|sha384|sha512> <module.ko> [<dest.ko>]" >&2; exit 2; fi
machine=$1 hash=$2 module=$3 dest=${4:-$3}
fw_check_selector "$machine"
case "$hash" in sha256 | sha384 | sha512) ;; *) echo "${0##*/}: hash must be sha256, sha384 or sha512" >&2; exit 2 ;; esac
[ -f "$module" ] || { echo "${0##*/}: $module: no such file" >&2; exit 1; }

magic='~Module signature appended~'
# Compared as hex (od, coreutils) rather than with cmp, which is diffutils.
if [ "$(tail -c 28 "$module" | hex_of)" = "$(printf '%s\n' "$magic" | hex_of)" ]; then
  echo "${0##*/}: $module is already signed" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
digest=$(openssl dgst "-$hash" -binary "$module" | hex_of)
fw_request "MODULE $machine $hash $digest" > "$work/b64"
base64 -d "$work/b64" > "$work/blob.p7s"
length=$(stat -c %s "$work/blob.p7s")

# struct module_signature { algo, hash, id_type = 2 (PKCS#7), signer_len, key_id_len, pad[3], be32 sig_len }
cp -p "$module" "$work/signed"
{
  cat "$work/blob.p7s"
  bin_of 0000020000000000
  be32 "$length"
  printf '%s\n' "$magic"
} >> "$work/signed"
fw_install "$work/signed" "$dest"
