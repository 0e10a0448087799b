#!/usr/bin/env bash
# The whole test suite: installs what a fresh machine needs (Azurite from npm, NuGet packages), builds the
# solution and runs every test assembly. Ends with one line: "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")"

for tool in dotnet node npm; do
  command -v "$tool" >/dev/null || { echo "test.sh: '$tool' is required (see README: .NET 10 SDK, Node 20)" >&2; exit 2; }
done

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Azurite, pinned in package-lock.json (no install scripts are needed).
if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

configuration="${CONFIGURATION:-Release}"
dotnet restore BitsFunctions.sln --nologo -v quiet
dotnet build BitsFunctions.sln -c "$configuration" --no-restore --nologo -v quiet -clp:ErrorsOnly

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
dotnet test --solution BitsFunctions.sln -c "$configuration" --no-build --no-progress "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Sum the per-assembly summaries of Microsoft.Testing.Platform ("total/failed/succeeded/skipped").
read -r passed failed skipped < <(awk '
  /^[[:space:]]*failed:[[:space:]]*[0-9]+/    { f += $2 }
  /^[[:space:]]*succeeded:[[:space:]]*[0-9]+/ { p += $2 }
  /^[[:space:]]*skipped:[[:space:]]*[0-9]+/   { s += $2 }
  END { printf "%d %d %d\n", p, f, s }' "$log")
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the run failed without a failing test (build, crash or time-out): count it
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
