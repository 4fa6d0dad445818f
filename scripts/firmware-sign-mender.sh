#!/usr/bin/env bash
# Signs a Mender artifact end to end through the signerd firmware daemon: sends the artifact's
# `manifest`, gets manifest.sig back, and rewrites the outer tar with manifest.sig after manifest.
# Usage: firmware-sign-mender.sh <distro> <in.mender> <out.mender>   (needs tar besides nc/openssl)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/firmware-client.sh"

[ $# -eq 3 ] || { echo "usage: ${0##*/} <distro> <in.mender> <out.mender>" >&2; exit 2; }
distro=$1 in=$2 out=$3
fw_check_selector "$distro"
[ -f "$in" ] || { echo "${0##*/}: $in: no such file" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t members < <(tar -tf "$in")
for m in "${members[@]}"; do
  case "$m" in
    manifest.sig) echo "${0##*/}: $in is already signed" >&2; exit 1 ;;
    */* | .* | *..*) case "$m" in data/[0-9][0-9][0-9][0-9].tar*) ;; *) echo "${0##*/}: unexpected member $m" >&2; exit 1 ;; esac ;;
  esac
done
mkdir "$work/a"
tar -xf "$in" -C "$work/a" --no-same-owner
[ -f "$work/a/manifest" ] || { echo "${0##*/}: $in has no manifest" >&2; exit 1; }

fw_request "MENDER $distro $(base64 -w0 "$work/a/manifest")" > "$work/a/manifest.sig"

order=()
for m in "${members[@]}"; do
  order+=("$m")
  [ "$m" = manifest ] && order+=(manifest.sig)
done
tar -cf "$work/out.mender" -C "$work/a" --owner=0 --group=0 --numeric-owner "${order[@]}"
mv -f "$work/out.mender" "$out"
