#!/usr/bin/env bash
# request_client.sh: the seed's bash client, kept compatible, plus ECDSA and multi-chunk handling.
#   request_client.sh sign   <host> <message...>      RSA-PSS sign (port 9948); prints the reply line
#   request_client.sh verify <host> <hex>...          RSA verify (port 9949); one verdict per signature
#   request_client.sh verify <host> -                 verify every signature of a sign reply read on stdin
#   request_client.sh sigs                            read a sign reply on stdin, print one hex signature per line
# ECDSA: use sign-ecdsa / verify-ecdsa as the action (ports 9848 / 9849), or set SIGNERD_ALG=ecdsa.
# Ports: SIGNERD_SIGN_PORT / SIGNERD_VERIFY_PORT override the defaults. Needs nc (netcat-openbsd).
set -euo pipefail

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 1
}

# A long message is signed in 2048-byte chunks; the reply holds one (b'...', b'<hex>') per chunk.
# The message is matched as a whole Python bytes literal ('…' with \' escapes, or "…"), so text
# inside a message that looks like ", b'ab')" is never taken for a signature.
signatures_of() {
  local q="'"
  local literal="b${q}([^${q}\\\\]|\\\\.)*${q}|b\"([^\"\\\\]|\\\\.)*\""
  grep -oE "\\((${literal}), b${q}[0-9a-f]+${q}\\)" | sed -E "s/^.*, b${q}([0-9a-f]+)${q}\\)\$/\\1/"
}

action=${1:-}
alg=${SIGNERD_ALG:-rsa}
case "$action" in
  sign-ecdsa | verify-ecdsa) alg=ecdsa; action=${action%-ecdsa} ;;
  sign-rsa | verify-rsa) alg=rsa; action=${action%-rsa} ;;
esac
if [ "$alg" = ecdsa ]; then sign_port=${SIGNERD_SIGN_PORT:-9848}; verify_port=${SIGNERD_VERIFY_PORT:-9849}
else sign_port=${SIGNERD_SIGN_PORT:-9948}; verify_port=${SIGNERD_VERIFY_PORT:-9949}; fi

case "$action" in
  sign)
    [ $# -ge 3 ] || usage
    host=$2; shift 2
    # printf, not echo: a message starting with -n or -e is sent as written.
    printf '%s\n' "$*" | nc "$host" "$sign_port"
    ;;
  verify)
    [ $# -ge 3 ] || usage
    host=$2; shift 2
    if [ "$1" = - ]; then mapfile -t sigs < <(signatures_of); else sigs=("$@"); fi
    [ "${#sigs[@]}" -gt 0 ] || { echo "no signatures given" >&2; exit 1; }
    if [ "${#sigs[@]}" -eq 1 ]; then printf '%s\n' "${sigs[0]}" | nc "$host" "$verify_port"
    else printf '%s\n' "${sigs[@]}" | nc -N "$host" "$verify_port"; fi
    ;;
  sigs) signatures_of ;;
  *) usage ;;
esac
