#!/usr/bin/env bash
# Makes sw-description.sig for a signed swupdate image (.swu) through the signerd firmware daemon.
# The whole sw-description is sent (the daemon can audit it); above 45000 bytes only its SHA-256.
# Usage: firmware-sign-swupdate.sh <distro> <RSA|RSA-PSS|CMS> <sw-description> [<out.sig>]
# Then: printf '%s\n' sw-description sw-description.sig <images...> | cpio -o -H crc > image.swu
set -euo pipefail
# shellcheck source=firmware-client.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/firmware-client.sh"

if [ $# -lt 3 ] || [ $# -gt 4 ]; then echo "usage: ${0##*/} <distro> <RSA|RSA-PSS|CMS> <sw-description> [<out.sig>]" >&2; exit 2; fi
distro=$1 method=$2 description=$3
out=${4:-$(dirname "$description")/sw-description.sig}
fw_check_selector "$distro"
case "$method" in RSA | RSA-PSS | CMS) ;; *) echo "${0##*/}: method must be RSA, RSA-PSS or CMS" >&2; exit 2 ;; esac
[ -f "$description" ] || { echo "${0##*/}: $description: no such file" >&2; exit 1; }
[ -s "$description" ] || { echo "${0##*/}: $description is empty (swupdate refuses an empty sw-description)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$(stat -c %s "$description")" -le 45000 ]; then
  fw_request "SWUPDATE $distro $method $(base64 -w0 "$description")" > "$work/b64"
else
  fw_request "SWUPDATE-DIGEST $distro $method $(openssl dgst -sha256 -binary "$description" | hex_of)" > "$work/b64"
fi
base64 -d "$work/b64" > "$work/sig"
fw_install "$work/sig" "$out"
