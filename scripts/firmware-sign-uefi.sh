#!/usr/bin/env bash
# Signs a UEFI PE/COFF image (Secure Boot, Authenticode) through the signerd firmware daemon, as sbsign
# would: only the Authenticode image hash crosses the wire (computed here by osslsigncode extract-data);
# the daemon returns the PKCS#7 SignedData, which sbattach puts into the image's certificate table.
# Usage: firmware-sign-uefi.sh <machine> <image.efi> [<dest.efi>]   Needs: osslsigncode, sbattach, openssl.
set -euo pipefail
# shellcheck source=firmware-client.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/firmware-client.sh"

if [ $# -lt 2 ] || [ $# -gt 3 ]; then echo "usage: ${0##*/} <machine> <image.efi> [<dest.efi>]" >&2; exit 2; fi
machine=$1 image=$2 dest=${3:-$2}
fw_check_selector "$machine"
[ -f "$image" ] || { echo "${0##*/}: $image: no such file" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# sbattach would add a second signature to a signed image; refuse it, as the daemon's HTTP form does.
if sbverify --list "$image" 2> /dev/null | grep -q '^signature [0-9]'; then
  echo "${0##*/}: $image is already signed" >&2
  exit 1
fi
# extract-data writes the unsigned SpcIndirectDataContent shell; its one 32-byte OCTET STRING is the
# image hash (file padded to 8 bytes, CheckSum and certificate table skipped).
if ! osslsigncode extract-data -h sha256 -in "$image" -out "$work/data.p7" > "$work/log" 2>&1; then
  echo "${0##*/}: $image: not a PE/COFF image osslsigncode can hash: $(tail -n 1 "$work/log")" >&2
  exit 1
fi
digest=$(openssl asn1parse -inform DER -in "$work/data.p7" | sed -n 's/.* l=  *32 prim: *OCTET STRING *\[HEX DUMP\]:\([0-9A-F]\{64\}\)$/\1/p' | tr 'A-F' 'a-f')
[ "${#digest}" -eq 64 ] || { echo "${0##*/}: no SHA-256 image hash in osslsigncode's output" >&2; exit 1; }
fw_request "UEFI $machine $digest" | base64 -d > "$work/sig.p7"
cp -p "$image" "$work/signed.efi"
sbattach --attach "$work/sig.p7" "$work/signed.efi" > "$work/log" 2>&1 || { echo "${0##*/}: sbattach: $(tail -n 1 "$work/log")" >&2; exit 1; }
fw_install "$work/signed.efi" "$dest"
