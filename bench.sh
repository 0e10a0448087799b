#!/usr/bin/env bash
# Benchmark (not part of ./test.sh): starts Azurite on free loopback ports and the Kestrel host in Release, then
# measures in one run the direct Azure SDK baseline against BITS uploads through the host, latencies, storage requests
# per fragment, the publish at Close and the host process's peak RSS. See README "Benchmark" and docs/performance.md.
#   ./bench.sh [--total 256MiB] [--skip-rss] [--host kestrel|functions] [--help]
# --host functions sends the BITS uploads through the real Azure Functions host instead (BITS_FUNCTIONS_HOST_DIR, e.g.
# BITS_FUNCTIONS_HOST_DIR=../shared/functions-host ./bench.sh --host functions); the function app is built first.
set -euo pipefail
cd "$(dirname "$0")"

for tool in dotnet node npm; do
  command -v "$tool" >/dev/null || { echo "bench.sh: '$tool' is required (see README: .NET 10 SDK, Node 20)" >&2; exit 2; }
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

# The bench references src/Bits.Host, so this also builds the host process the RSS probe starts.
dotnet build tools/Bits.Bench/Bits.Bench.csproj -c Release --nologo -v quiet -clp:ErrorsOnly
if [[ " $* " == *" functions "* ]]; then
  dotnet build src/BitsFunctions/BitsFunctions.csproj -c Release --nologo -v quiet -clp:ErrorsOnly
fi
exec dotnet tools/Bits.Bench/bin/Release/net10.0/Bits.Bench.dll "$@"
