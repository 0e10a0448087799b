#!/usr/bin/env bash
# Runs a local BITS upload server: Azurite (data under .data/azurite) plus the Kestrel host, on loopback.
#   BITS_BIND (default 127.0.0.1), BITS_PORT (default 7071): where the host listens.
#   AZURITE_BLOB_PORT / AZURITE_QUEUE_PORT / AZURITE_TABLE_PORT (defaults 10000/10001/10002).
# Any other setting can be passed as an environment variable, e.g. Bits__AllowOverwrites=true (see README).
# Ctrl+C stops both.
set -euo pipefail
cd "$(dirname "$0")"

for tool in dotnet node npm; do
  command -v "$tool" >/dev/null || { echo "run.sh: '$tool' is required (see README: .NET 10 SDK, Node 20)" >&2; exit 2; }
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

bind="${BITS_BIND:-127.0.0.1}"
port="${BITS_PORT:-7071}"
blob_port="${AZURITE_BLOB_PORT:-10000}"
queue_port="${AZURITE_QUEUE_PORT:-10001}"
table_port="${AZURITE_TABLE_PORT:-10002}"

if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi
dotnet build src/Bits.Host -c Release --nologo -v quiet -clp:ErrorsOnly

mkdir -p .data/azurite
node_modules/.bin/azurite --silent --disableTelemetry --skipApiVersionCheck --disableProductStyleUrl \
  --location .data/azurite \
  --blobHost 127.0.0.1 --blobPort "$blob_port" \
  --queueHost 127.0.0.1 --queuePort "$queue_port" \
  --tableHost 127.0.0.1 --tablePort "$table_port" >.data/azurite/azurite.out 2>&1 &
azurite_pid=$!
host_pid=""

stop() {
  trap - INT TERM EXIT
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null
  # Azurite needs two SIGTERMs to exit.
  kill "$azurite_pid" 2>/dev/null; kill "$azurite_pid" 2>/dev/null
  wait "$azurite_pid" 2>/dev/null || true
}
trap stop INT TERM EXIT

for attempt in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$blob_port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$table_port") 2>/dev/null; then
    break
  fi
  if ! kill -0 "$azurite_pid" 2>/dev/null; then
    echo "run.sh: Azurite did not start:" >&2; cat .data/azurite/azurite.out >&2; exit 1
  fi
  [ "$attempt" = 100 ] && { echo "run.sh: Azurite is not listening on port $blob_port after 20 s" >&2; exit 1; }
  sleep 0.2
done

key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==" # Azurite's public dev key
export BitsStorage__ConnectionString="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$blob_port/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$queue_port/devstoreaccount1;TableEndpoint=http://127.0.0.1:$table_port/devstoreaccount1;"

echo "BITS uploads: http://$bind:$port/uploads/<path>   (Azurite blob :$blob_port, table :$table_port; Ctrl+C stops)"
dotnet src/Bits.Host/bin/Release/net10.0/Bits.Host.dll --contentRoot "$PWD/src/Bits.Host/bin/Release/net10.0" --urls "http://$bind:$port" &
host_pid=$!
wait "$host_pid"
