#!/usr/bin/env bash
# Builds a signed OP-TEE trusted application (<uuid>.ta, bootstrap TA) through the signerd firmware
# daemon, like sign_encrypt.py digest + stitch: asks the key's signature size, hashes the header and
# ELF locally, and sends only the 32-byte digest.
# Usage: firmware-sign-optee.sh <machine> <PKCS1|PSS> <uuid> <ta_version> <uuid.stripped.elf> <out.ta>
set -euo pipefail
# shellcheck source=firmware-client.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/firmware-client.sh"

[ $# -eq 6 ] || { echo "usage: ${0##*/} <machine> <PKCS1|PSS> <uuid> <ta_version> <stripped.elf> <out.ta>" >&2; exit 2; }
machine=$1 algo=$2 uuid=$3 version=$4 elf=$5 out=$6
fw_check_selector "$machine"
case "$algo" in PKCS1) algo_value=$((0x70004830)) ;; PSS) algo_value=$((0x70414930)) ;; *) echo "${0##*/}: algo must be PKCS1 or PSS" >&2; exit 2 ;; esac
[[ $uuid =~ ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$ ]] || { echo "${0##*/}: bad uuid" >&2; exit 2; }
# Decimal only, leading zeros included ("010" is 10); 0x... is refused rather than guessed at.
version=$(fw_uint ta_version "$version" 4294967295) || exit 2
[ -f "$elf" ] || { echo "${0##*/}: $elf: no such file" >&2; exit 1; }
elf_bytes=$(stat -L -c %s "$elf")
[ "$elf_bytes" -le 4294967295 ] || { echo "${0##*/}: $elf: larger than 4 GiB, too big for a TA" >&2; exit 1; }

info=$(fw_request "KEYINFO $machine opteesign")
[[ $info =~ (^| )sig-bytes=([0-9]+)( |$) ]] || { echo "${0##*/}: no sig-bytes in key info" >&2; exit 1; }
sig_bytes=$(fw_uint "the daemon's sig-bytes" "${BASH_REMATCH[2]}" 65535) || exit 1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# struct shdr: magic "HSTO", img_type 1 (bootstrap TA), img_size, algo, hash_size 32, sig_size
{ le32 $((0x4f545348)); le32 1; le32 "$elf_bytes"; le32 "$algo_value"; le16 32; le16 "$sig_bytes"; } > "$work/shdr"
bin_of "${uuid//-/}" > "$work/uuid"
le32 "$version" > "$work/version"
cat "$work/shdr" "$work/uuid" "$work/version" "$elf" | openssl dgst -sha256 -binary > "$work/digest"
fw_request "OPTEE $machine $algo $(hex_of "$work/digest")" | base64 -d > "$work/sig"
[ "$(stat -c %s "$work/sig")" -eq "$sig_bytes" ] || { echo "${0##*/}: signature has the wrong length" >&2; exit 1; }
cat "$work/shdr" "$work/digest" "$work/sig" "$work/uuid" "$work/version" "$elf" > "$work/out.ta"
fw_install "$work/out.ta" "$out"
