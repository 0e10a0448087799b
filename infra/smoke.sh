#!/usr/bin/env bash
# Smoke test for a deployed BITS upload endpoint: one complete BITS upload session over HTTP/1.1 with curl.
#
# Usage: infra/smoke.sh <upload-base-url> [function-key]
#   upload-base-url  e.g. https://func-api-xyz.azurewebsites.net/uploads/  (azd output UPLOAD_BASE_URL)
#   function-key     optional; sent as the x-functions-key header
# Environment:
#   SMOKE_INSECURE=1 accept any TLS certificate (curl -k), for local endpoints with self-signed certificates.
#   SMOKE_USER, SMOKE_PASSWORD  send HTTP Basic credentials with every packet (authentication basic).
#   SMOKE_BEARER_TOKEN          send "Authorization: Bearer <token>" with every packet (authentication entra).
# Credentials go to curl through a file in a private temporary folder, never on its command line.
#
# Sends to <base>/smoke/<random>.bin: Ping, Create-Session, two 4 KiB Fragments, Close-Session, and checks each
# Ack (HTTP 200, BITS-Packet-Type: Ack, a session id after Create-Session, BITS-Received-Content-Range 4096 then
# 8192). Exits 0 and prints "smoke test passed: ..." on success; otherwise says in words what failed and exits 1.
# Needs bash and curl only.
set -euo pipefail

readonly PROTOCOL_GUID='{7df0354d-249b-430f-820d-3d2a9bef4931}'
readonly FRAGMENT_BYTES=4096
readonly TOTAL_BYTES=$((2 * FRAGMENT_BYTES))

if [[ $# -lt 1 || $# -gt 2 || -z ${1:-} ]]; then
  echo "usage: $0 <upload-base-url> [function-key]" >&2
  exit 2
fi

base_url=${1%/}
function_key=${2:-}
url="${base_url}/smoke/$(printf '%04x%04x%04x%04x' "$RANDOM" "$RANDOM" "$RANDOM" "$RANDOM").bin"

work_dir=$(mktemp -d)
trap 'rm -rf "$work_dir"' EXIT
headers="$work_dir/headers"

session_id=''
session_open=0

curl_opts=(--http1.1 --silent --show-error --max-time 120 -X BITS_POST -H 'Expect:')
if [[ -n $function_key ]]; then
  curl_opts+=(-H "x-functions-key: ${function_key}")
fi
if [[ ${SMOKE_INSECURE:-0} == 1 ]]; then
  curl_opts+=(-k)
fi
if [[ -n ${SMOKE_USER:-} ]]; then
  printf 'Authorization: Basic %s\n' "$(printf '%s:%s' "$SMOKE_USER" "${SMOKE_PASSWORD:-}" | base64 -w0)" >"$work_dir/authorization"
  curl_opts+=(-H "@$work_dir/authorization")
elif [[ -n ${SMOKE_BEARER_TOKEN:-} ]]; then
  printf 'Authorization: Bearer %s\n' "$SMOKE_BEARER_TOKEN" >"$work_dir/authorization"
  curl_opts+=(-H "@$work_dir/authorization")
fi

# header_value NAME: value of header NAME in the last response block of $headers (case-insensitive name, CR and
# surrounding blanks removed); empty when absent.
header_value() {
  local wanted=${1,,} line name value result=''
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    if [[ $line == HTTP/* ]]; then
      result='' # a new response block (e.g. after 100 Continue) starts
      continue
    fi
    [[ $line == *:* ]] || continue
    name=${line%%:*}
    if [[ ${name,,} == "$wanted" ]]; then
      value=${line#*:}
      value=${value#"${value%%[![:space:]]*}"}
      value=${value%"${value##*[![:space:]]}"}
      result=$value
    fi
  done <"$headers"
  printf '%s' "$result"
}

# send STEP PACKET-TYPE [curl args...]: one BITS_POST; sets $status. Fails the test if curl cannot complete it.
send() {
  local step=$1 packet_type=$2
  shift 2
  : >"$headers"
  if ! status=$(curl "${curl_opts[@]}" -H "BITS-Packet-Type: ${packet_type}" "$@" \
    -D "$headers" -o /dev/null -w '%{http_code}' "$url"); then
    fail "${step}: the request did not complete (curl could not connect or timed out; see the curl message above)"
  fi
}

fail() {
  echo "smoke test FAILED: $*" >&2
  echo "  url: ${url}" >&2
  if [[ $session_open == 1 ]]; then
    # Best effort: do not leave a staging session behind.
    session_open=0
    curl "${curl_opts[@]}" -H 'BITS-Packet-Type: Cancel-Session' -H "BITS-Session-Id: ${session_id}" \
      -H 'Content-Length: 0' -o /dev/null "$url" >/dev/null 2>&1 || true
  fi
  exit 1
}

# expect_ack STEP: the response in $status/$headers must be a successful BITS Ack.
expect_ack() {
  local step=$1 packet_type error_code error_context
  packet_type=$(header_value 'BITS-Packet-Type')
  if [[ $status != 200 ]]; then
    if [[ -z $packet_type ]]; then
      case $status in
        405 | 501)
          fail "${step}: the front end rejected the BITS_POST verb (HTTP ${status})" ;;
        404)
          fail "${step}: HTTP 404 without a BITS-Packet-Type header: the front end rejected the BITS_POST verb (HTTP 404), or nothing serves this URL (check the base URL and the route prefix)" ;;
        401 | 403)
          fail "${step}: the request was not authorized (HTTP ${status}); is the function key missing or wrong?" ;;
        000)
          fail "${step}: no HTTP response was received" ;;
        *)
          fail "${step}: HTTP ${status} without a BITS-Packet-Type header; something other than the BITS server answered" ;;
      esac
    fi
    error_code=$(header_value 'BITS-Error-Code')
    error_context=$(header_value 'BITS-Error-Context')
    fail "${step}: the BITS server answered HTTP ${status} with BITS-Error-Code ${error_code:-<none>} and BITS-Error-Context ${error_context:-<none>}"
  fi
  if [[ ${packet_type,,} != ack ]]; then
    fail "${step}: HTTP 200 but BITS-Packet-Type is '${packet_type:-<missing>}' instead of 'Ack'; something other than the BITS server answered"
  fi
}

# expect_received STEP BYTES: the Fragment Ack must report BYTES stored.
expect_received() {
  local step=$1 expected=$2 received
  received=$(header_value 'BITS-Received-Content-Range')
  if [[ $received != "$expected" ]]; then
    fail "${step}: BITS-Received-Content-Range is '${received:-<missing>}', expected ${expected}"
  fi
}

head -c "$TOTAL_BYTES" /dev/urandom >"$work_dir/file.bin"
head -c "$FRAGMENT_BYTES" "$work_dir/file.bin" >"$work_dir/part1.bin"
tail -c "$FRAGMENT_BYTES" "$work_dir/file.bin" >"$work_dir/part2.bin"

send 'Ping' 'Ping' -H 'Content-Length: 0'
expect_ack 'Ping'

send 'Create-Session' 'Create-Session' -H "BITS-Supported-Protocols: ${PROTOCOL_GUID}" -H 'Content-Length: 0'
expect_ack 'Create-Session'
session_id=$(header_value 'BITS-Session-Id')
if [[ -z $session_id ]]; then
  fail 'Create-Session: the Ack carries no BITS-Session-Id'
fi
session_open=1
protocol=$(header_value 'BITS-Protocol')
if [[ -n $protocol && ${protocol,,} != "${PROTOCOL_GUID,,}" ]]; then
  fail "Create-Session: the server chose protocol ${protocol}, expected ${PROTOCOL_GUID}"
fi

send 'Fragment 1' 'Fragment' -H "BITS-Session-Id: ${session_id}" \
  -H "Content-Range: bytes 0-$((FRAGMENT_BYTES - 1))/${TOTAL_BYTES}" \
  -H 'Content-Type: application/octet-stream' --data-binary "@$work_dir/part1.bin"
expect_ack 'Fragment 1'
expect_received 'Fragment 1' "$FRAGMENT_BYTES"

send 'Fragment 2' 'Fragment' -H "BITS-Session-Id: ${session_id}" \
  -H "Content-Range: bytes ${FRAGMENT_BYTES}-$((TOTAL_BYTES - 1))/${TOTAL_BYTES}" \
  -H 'Content-Type: application/octet-stream' --data-binary "@$work_dir/part2.bin"
expect_ack 'Fragment 2'
expect_received 'Fragment 2' "$TOTAL_BYTES"

send 'Close-Session' 'Close-Session' -H "BITS-Session-Id: ${session_id}" -H 'Content-Length: 0'
expect_ack 'Close-Session'
session_open=0

echo "smoke test passed: ${url} (${TOTAL_BYTES} bytes uploaded in 2 fragments)"
