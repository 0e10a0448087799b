#!/usr/bin/env bash
# Load test (not part of ./test.sh): starts Azurite on free loopback ports and the Kestrel host(s) in this process in
# Release, runs concurrent BITS uploads with random sizes, random fragment sizes and injected retransmits/overlaps,
# verifies every published file by SHA-256 and counts what is left in staging. See README "Load test".
#   ./load.sh [--sessions 64] [--max-size 64MiB] [--hosts 1|2|both] [--help]
# Exit code 0 only when every session completed, no file is corrupt and nothing is left in staging.
set -euo pipefail
cd "$(dirname "$0")"

for tool in dotnet node npm; do
  command -v "$tool" >/dev/null || { echo "load.sh: '$tool' is required (see README: .NET 10 SDK, Node 20)" >&2; exit 2; }
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

dotnet build tools/Bits.Load/Bits.Load.csproj -c Release --nologo -v quiet -clp:ErrorsOnly
exec dotnet tools/Bits.Load/bin/Release/net10.0/Bits.Load.dll "$@"
