#!/usr/bin/env bash
# HTTP load from a separate process: starts `copilotguard serve` (Release) on a scratch data folder with the query
# embedding cache on, mints the sample callers' tokens, runs wrk with the same mix as `copilotguard bench load`, and
# stops the server. Needs Debian's wrk (apt-get install wrk).
# Usage: bench/wrk/run.sh [DURATION_S=15] [CONNECTIONS=32] [DATA=/tmp/cg-wrk]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-15}
connections=${2:-32}
data=${3:-/tmp/cg-wrk}
url=http://127.0.0.1:5181

dotnet build -c Release src/CopilotGuard.Cli -v quiet -nologo >/dev/null
cli=src/CopilotGuard.Cli/bin/Release/net10.0/CopilotGuard.Cli
CopilotGuard__Embeddings__QueryCacheSize=1024 CopilotGuard__Anomaly__Enabled=false CopilotGuard__RateLimits__Enabled=false \
  "$cli" serve --data "$data" --urls "$url" >/tmp/cg-wrk-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  curl -sf "$url/healthz" >/dev/null && break
  kill -0 $server 2>/dev/null || { cat /tmp/cg-wrk-server.log; exit 1; }
  sleep 0.5
done

tokens=$(mktemp)
for user in carol bob alice dana erin paul; do
  printf '%s\t%s\n' "$user" "$("$cli" token --user "$user" --data "$data")" >>"$tokens"
done
printf 'ticket-agent-for-bob\t%s\n' "$("$cli" token --user bob --agent ticket-agent --data "$data")" >>"$tokens"

# Warm-up (JIT, caches), then the measured run.
CG_TOKENS=$tokens wrk -t2 -c"$connections" -d3s -s bench/wrk/retrieve.lua "$url" >/dev/null
CG_TOKENS=$tokens wrk -t2 -c"$connections" -d"${duration}s" --latency -s bench/wrk/retrieve.lua "$url"
rm -f "$tokens"
