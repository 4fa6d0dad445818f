#!/usr/bin/env bash
# request_client.sh: the seed's bash client, kept compatible, plus ECDSA and multi-chunk handling.
#   request_client.sh sign   <host> <message>         RSA-PSS sign (port 9948); prints the reply line (quote a multi-word message)
#   request_client.sh verify <host> <hex>...          RSA verify (port 9949); one verdict per signature
#   request_client.sh verify <host> -                 verify every signature of a sign reply read on stdin
#   request_client.sh sigs                            read a sign reply on stdin, print one hex signature per line
# ECDSA: use sign-ecdsa / verify-ecdsa as the action (ports 9848 / 9849), or set SIGNERD_ALG=ecdsa.
# Ports: SIGNERD_SIGN_PORT / SIGNERD_VERIFY_PORT override the defaults. Needs nc (netcat-openbsd).
# TLS client channels (docs/channels.md): SIGNERD_TLS_CA=<the daemons' server.crt> turns TLS on (through
# openssl s_client, checking the server against that certificate), with SIGNERD_TLS_CERT and
# SIGNERD_TLS_KEY (a client certificate), or SIGNERD_TLS_PSK_FILE and SIGNERD_TLS_PSK_IDENTITY (a PSK,
# through stunnel4: s_client would take the key on its command line, which every local user can read).
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 1
}

# send <host> <port> [-N]: stdin to the daemon, its reply to stdout; nc, or openssl s_client for TLS.
send() {
  local host=$1 port=$2 half_close=${3:-}
  if [ -z "${SIGNERD_TLS_CA:-}" ]; then
    nc $half_close "$host" "$port"
    return
  fi
  local args=(-quiet -tls1_3 -verify_return_error -CAfile "$SIGNERD_TLS_CA" -connect "$host:$port")
  # The server's certificate must name the host asked for (its DNS name or IP address).
  if [[ $host =~ ^[0-9.]+$|: ]]; then args+=(-verify_ip "$host"); else args+=(-verify_hostname "$host"); fi
  if [ -n "${SIGNERD_TLS_PSK_FILE:-}" ]; then
    send_psk "$host" "$port"
    return
  elif [ -n "${SIGNERD_TLS_CERT:-}" ]; then
    args+=(-cert "$SIGNERD_TLS_CERT" -key "${SIGNERD_TLS_KEY:?SIGNERD_TLS_KEY goes with SIGNERD_TLS_CERT}")
  fi
  # The daemon closes the channel once every line is answered; s_client then ends. Its messages
  # are kept, not shown: if the daemon said nothing (no connection, a failed handshake), one line
  # says why, as for a PSK channel.
  local err out rc=0
  err=$(mktemp) || return 1
  out=$(openssl s_client "${args[@]}" 2>"$err") || rc=$?
  [ -z "$out" ] || printf '%s\n' "$out"
  if [ -z "$out" ] && [ "$rc" -ne 0 ]; then
    echo "request_client.sh: no reply over TLS from $host:$port: $(grep -m1 -iE 'errno|error|unable|alert' "$err" | cut -c1-200)" >&2
  fi
  rm -f "$err"
  return "$rc"
}

# send_psk <host> <port>: a PSK channel through stunnel in inetd mode (stdin/stdout), its settings and
# the key handed over on file descriptors: the key is in no command line and no file but the one given.
# stunnel takes the key as text: the .psk.stunnel file `signerd client psk` writes beside the hex one,
# or, without it, the hex decoded (signerd's PSKs are printable).
# stunnel exits 0 whatever became of the connection, so its log (kept, not shown) decides: the
# daemon answered only if bytes reached our side; otherwise one line says why, and the exit is 1.
send_psk() {
  local host=$1 port=$2 hex psk stunnel log status=0 why
  stunnel=$(command -v stunnel4 || command -v stunnel) || { echo "request_client.sh: a PSK channel needs stunnel" >&2; return 69; }
  local identity=${SIGNERD_TLS_PSK_IDENTITY:?SIGNERD_TLS_PSK_IDENTITY names the PSK}
  if [ -f "$SIGNERD_TLS_PSK_FILE.stunnel" ]; then
    psk=$(cut -d: -f2- <"$SIGNERD_TLS_PSK_FILE.stunnel")
  else
    hex=$(tr -d '[:space:]' <"$SIGNERD_TLS_PSK_FILE")
    printf -v psk '%b' "$(sed 's/../\\x&/g' <<<"$hex")"
  fi
  local conf="client = yes
connect = $host:$port
PSKsecrets = /dev/fd/4
PSKidentity = $identity
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
debug = 5
output = /dev/stderr
syslog = no"
  # The reply goes straight to our stdout (fd 5); stunnel's log is captured.
  { log=$("$stunnel" -fd 3 3<<<"$conf" 4< <(printf '%s:%s\n' "$identity" "$psk") 2>&1 >&5) || status=$?; } 5>&1
  if [ "$status" -ne 0 ]; then
    # stunnel itself failed (its settings, the PSK file): its own lines say why.
    printf '%s\n' "$log" >&2
    return "$status"
  fi
  [[ $log =~ sent\ to\ TLS,\ [1-9][0-9]*\ byte\(s\)\ sent\ to\ socket ]] && return 0
  why=$(grep -m1 -E 'LOG[0-3]\[[0-9]+\]: ' <<<"$log" | sed -E 's/^.*LOG[0-3]\[[0-9]+\]: //; s/^s_connect: connect [^ ]+: /connect: /; s/^SSL_connect: .*:/TLS handshake failed (a wrong PSK or identity?): /' || true)
  echo "request_client.sh: no reply over the PSK channel to $host:$port: ${why:-the channel closed without one}" >&2
  return 1
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
    # The seed's client sent "$3" alone and ignored the rest: joining the words would sign other
    # bytes for the same command line, and dropping them silently would too. So: one argument.
    [ $# -eq 3 ] || { echo "request_client.sh: give the message as one argument (quote it); the seed's client signed only the first word" >&2; exit 1; }
    host=$2
    # printf, not echo: a message starting with -n or -e is sent as written.
    printf '%s\n' "$3" | send "$host" "$sign_port"
    ;;
  verify)
    [ $# -ge 3 ] || usage
    host=$2; shift 2
    if [ "$1" = - ]; then mapfile -t sigs < <(signatures_of); else sigs=("$@"); fi
    [ "${#sigs[@]}" -gt 0 ] || { echo "no signatures given" >&2; exit 1; }
    if [ "${#sigs[@]}" -eq 1 ]; then printf '%s\n' "${sigs[0]}" | send "$host" "$verify_port"
    else printf '%s\n' "${sigs[@]}" | send "$host" "$verify_port" -N; fi
    ;;
  sigs) signatures_of ;;
  *) usage ;;
esac
