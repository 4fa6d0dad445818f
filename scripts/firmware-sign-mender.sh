#!/usr/bin/env bash
# Signs a Mender artifact end to end through the signerd firmware daemon: sends the artifact's
# `manifest`, gets manifest.sig back, and writes the outer tar again with a manifest.sig member right
# after manifest, every other member copied byte for byte. The outer tar is plain ustar, so it is read
# and written here in 512-byte blocks: bash, nc, openssl and coreutils only (no tar).
# Usage: firmware-sign-mender.sh <distro> <in.mender> <out.mender>
set -euo pipefail
# shellcheck source=firmware-client.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/firmware-client.sh"

[ $# -eq 3 ] || { echo "usage: ${0##*/} <distro> <in.mender> <out.mender>" >&2; exit 2; }
distro=$1 in=$2 out=$3
fw_check_selector "$distro"
[ -f "$in" ] || { echo "${0##*/}: $in: no such file" >&2; exit 1; }

refuse() { echo "${0##*/}: $in: $*" >&2; exit 1; }

# The outer members of a Mender artifact (format 2 and 3); anything else is refused, not copied blind.
MEMBER_NAMES='^(version|manifest|manifest-augment|header(-augment)?\.tar(\.gz|\.xz|\.zst)?|data/[0-9]{4}\.tar(\.gz|\.xz|\.zst)?)$'

# read_header OFFSET: the 512-byte block at OFFSET as decimal byte values in the array `hdr`.
read_header() {
  read -r -a hdr < <(dd if="$in" bs=512 skip=$(($1 / 512)) count=1 status=none | od -An -v -tu1 -w512)
  [ "${#hdr[@]}" -eq 512 ] || refuse "short read at byte $1"
}

# field_text START LEN: a NUL-terminated header text field into `field`; fails on any byte outside
# printable ASCII (no member name we accept has one).
field_text() {
  local i c hex escaped=''
  for ((i = $1; i < $1 + $2; i++)); do
    c=${hdr[i]}
    if [ "$c" -eq 0 ]; then break; fi
    if [ "$c" -le 32 ] || [ "$c" -ge 127 ]; then return 1; fi
    printf -v hex '\\x%02x' "$c"
    escaped+=$hex
  done
  printf -v field '%b' "$escaped"
}

# field_octal START LEN: an octal number field (digits with NUL/space padding) into `field` as decimal;
# fails on anything else, base-256 numbers included (no member of an artifact needs one).
field_octal() {
  local i c digits='' ended=no
  for ((i = $1; i < $1 + $2; i++)); do
    c=${hdr[i]}
    if [ "$c" -ge 48 ] && [ "$c" -le 55 ]; then
      if [ "$ended" = yes ]; then return 1; fi
      digits+=$((c - 48))
    elif [ "$c" -eq 0 ] || [ "$c" -eq 32 ]; then
      if [ -n "$digits" ]; then ended=yes; fi
    else
      return 1
    fi
  done
  [ -n "$digits" ] || return 1
  field=$((8#$digits))
}

# header_sums: `unsigned`, `signed` (both accepted, as by Go's archive/tar and GNU tar) and `total`
# (the plain byte sum, 0 for an end-of-archive block); the checksum field counts as eight spaces.
header_sums() {
  local i c
  unsigned=0 signed=0 total=0
  for ((i = 0; i < 512; i++)); do
    c=${hdr[i]}
    total=$((total + c))
    if [ "$i" -ge 148 ] && [ "$i" -lt 156 ]; then c=32; fi
    unsigned=$((unsigned + c))
    if [ "$c" -ge 128 ]; then c=$((c - 256)); fi
    signed=$((signed + c))
  done
}

in_bytes=$(stat -L -c %s "$in")
offset=0 count=0 archive_end='' manifest_data='' manifest_size='' manifest_end='' manifest_mtime=0
declare -A seen=()
while [ -z "$archive_end" ]; do
  [ $((offset + 512)) -le "$in_bytes" ] || refuse "not a complete tar archive (no end-of-archive blocks)"
  read_header "$offset"
  header_sums
  if [ "$total" -eq 0 ]; then
    [ $((offset + 1024)) -le "$in_bytes" ] || refuse "not a complete tar archive (one end-of-archive block)"
    read_header $((offset + 512))
    header_sums
    [ "$total" -eq 0 ] || refuse "a zero block in the middle of the archive"
    archive_end=$offset
    break
  fi
  field_octal 148 8 || refuse "member $count: unreadable header checksum"
  [ "$field" -eq "$unsigned" ] || [ "$field" -eq "$signed" ] || refuse "member $count: header checksum mismatch (not a tar archive, or corrupt)"
  printf -v magic '%02x' "${hdr[@]:257:8}"
  case "$magic" in
    7573746172003030) posix=yes ;;    # "ustar\0" "00": POSIX ustar (mender-artifact, Go)
    7573746172202000) posix=no ;;     # "ustar  \0": GNU tar's format
    *) refuse "member $count: not a ustar header" ;;
  esac
  case "${hdr[156]}" in
    0 | 48) ;;                                    # '\0' or '0': a regular file
    120 | 103) refuse "member $count: pax extended header (not expected in a Mender artifact)" ;;
    76 | 75) refuse "member $count: GNU long name record (not expected in a Mender artifact)" ;;
    49 | 50) refuse "member $count: a link (not expected in a Mender artifact)" ;;
    53) refuse "member $count: a directory (not expected in a Mender artifact)" ;;
    *) refuse "member $count: unsupported member type" ;;
  esac
  field_text 0 100 || refuse "member $count: unexpected characters in its name"
  name=$field
  if [ "$posix" = yes ]; then
    field_text 345 155 || refuse "member $count: unexpected characters in its name prefix"
    if [ -n "$field" ]; then name="$field/$name"; fi
  fi
  [ -n "$name" ] || refuse "member $count has an empty name"
  if [ "$name" = manifest.sig ]; then refuse "already signed (it has a manifest.sig)"; fi
  [[ $name =~ $MEMBER_NAMES ]] || refuse "unexpected member '$name'"
  [ -z "${seen[$name]:-}" ] || refuse "member '$name' appears twice"
  seen[$name]=1
  if [ "$count" -eq 0 ] && [ "$name" != version ]; then refuse "the first member must be 'version', not '$name'"; fi
  if [ "$count" -eq 1 ] && [ "$name" != manifest ]; then refuse "the second member must be 'manifest', not '$name'"; fi
  field_octal 124 12 || refuse "member '$name': unreadable size"
  size=$field
  next=$((offset + 512 + (size + 511) / 512 * 512))
  [ "$next" -le "$in_bytes" ] || refuse "member '$name' is cut short"
  if [ "$name" = manifest ]; then
    manifest_data=$((offset + 512)) manifest_size=$size manifest_end=$next
    # manifest.sig gets the manifest's mtime when it is an ordinary one, else 0.
    if field_octal 136 12 && [ "$field" -le $((8#77777777777)) ]; then manifest_mtime=$field; fi
  fi
  offset=$next
  count=$((count + 1))
done
[ -n "$manifest_end" ] || refuse "no manifest"

[ "$manifest_size" -gt 0 ] || refuse "the manifest is empty (it lists no file to sign)"
manifest_b64=$(dd if="$in" iflag=skip_bytes,count_bytes skip="$manifest_data" count="$manifest_size" bs=65536 status=none | base64 -w0)
[ "${#manifest_b64}" -eq $((4 * ((manifest_size + 2) / 3))) ] || refuse "could not read the manifest"
sig=$(fw_request "MENDER $distro $manifest_b64")
[[ $sig =~ ^[A-Za-z0-9+/]+=*$ ]] || { echo "${0##*/}: the daemon's manifest.sig is not base64" >&2; exit 1; }
sig_size=${#sig}

# manifest_sig_header [CHECKSUM]: the 512-byte ustar header of manifest.sig; without CHECKSUM its
# checksum field is eight spaces, as when the checksum is computed. uid/gid 0 and empty owner names,
# as `tar --owner=0 --group=0 --numeric-owner` writes them.
zeros() { head -c "$1" /dev/zero; }
manifest_sig_header() {
  printf 'manifest.sig'; zeros 88                       # name[100]
  printf '0000644\0'                                    # mode[8]
  printf '0000000\0'                                    # uid[8]
  printf '0000000\0'                                    # gid[8]
  printf '%011o\0' "$sig_size"                          # size[12]
  printf '%011o\0' "$manifest_mtime"                    # mtime[12]
  if [ -n "${1:-}" ]; then printf '%06o\0 ' "$1"; else printf '%8s' ''; fi   # chksum[8]
  printf '0'                                            # typeflag: regular file
  zeros 100                                             # linkname[100]
  printf 'ustar\0'; printf '00'                         # magic[6], version[2]
  zeros 64                                              # uname[32], gname[32]
  printf '0000000\0'; printf '0000000\0'                # devmajor[8], devminor[8]
  zeros 167                                             # prefix[155], pad[12]
}
sum=0
read -r -a bytes < <(manifest_sig_header | od -An -v -tu1 -w512)
[ "${#bytes[@]}" -eq 512 ] || { echo "${0##*/}: internal error: manifest.sig header is not 512 bytes" >&2; exit 1; }
for b in "${bytes[@]}"; do sum=$((sum + b)); done

# copy_bytes START LEN: LEN bytes of the input from byte START, unchanged.
copy_bytes() { dd if="$in" iflag=skip_bytes,count_bytes,fullblock skip="$1" count="$2" bs=1048576 status=none; }

# Written beside the output and renamed into place, so a failure never leaves a partial artifact.
out_dir=$(dirname -- "$out")
tmp=$(mktemp "$out_dir/.${out##*/}.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
{
  copy_bytes 0 "$manifest_end"
  manifest_sig_header "$sum"
  printf '%s' "$sig"
  zeros $(((512 - sig_size % 512) % 512))
  copy_bytes "$manifest_end" $((archive_end - manifest_end))
  zeros 1024
} > "$tmp"
expected=$((archive_end + 512 + (sig_size + 511) / 512 * 512 + 1024))
[ "$(stat -c %s "$tmp")" -eq "$expected" ] || { echo "${0##*/}: $in changed or could not be read while signing" >&2; exit 1; }
chmod "$(umask -S)" "$tmp"
chmod a-x "$tmp"
mv -f -- "$tmp" "$out"
trap - EXIT
