#!/usr/bin/env bash
# Production smoke test, the same steps the Docker image runs (CI has no Docker engine):
# build, install production dependencies only into a temp dir with the built output, start
# the image's command (`node dist/cli/main.js start` with MALLOC_ARENA_MAX=2, see the Dockerfile), probe
# /healthz and /readyz, then SIGTERM and expect a clean exit.
# Measures start-to-ready time and RSS (issue 7 targets: <= 1 s, idle <= 80 MB): 1 s after ready, and idle
# 30 s after ready. The difference is V8's young generation, grown to 2 x 16 MB while ~760 modules load and
# released by V8's memory reducer on its own once the process is idle (10 s after ready on a quiet machine,
# up to ~20 s on a busy one); capping it with --max-semi-space-size would show a lower early figure at a cost
# in throughput under load, so we report both moments instead (docs/notes/product.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${SMOKE_PORT:-18787}
WORK=$(mktemp -d)
cleanup() { [[ -n "${PID:-}" ]] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

echo "smoke: build"
npm run build --silent

echo "smoke: production install into $WORK"
cp -r package.json package-lock.json dist config "$WORK/"
(cd "$WORK" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
if [[ -d "$WORK/node_modules/vitest" || -d "$WORK/node_modules/typescript" ]]; then
  echo "smoke: dev dependencies leaked into the production install" >&2; exit 1
fi

echo "smoke: start"
cd "$WORK"
START_NS=$(date +%s%N)
SWITCHYARD_PORT=$PORT OPENAI_BASE_URL=http://127.0.0.1:9/v1 MALLOC_ARENA_MAX=2 \
  node dist/cli/main.js start >"$WORK/gateway.log" 2>&1 &
PID=$!
READY=""
for _ in $(seq 1 200); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then READY=1; break; fi
  if ! kill -0 "$PID" 2>/dev/null; then break; fi
  sleep 0.05
done
if [[ -z "$READY" ]]; then echo "smoke: gateway not ready" >&2; cat "$WORK/gateway.log" >&2; exit 1; fi
READY_MS=$(( ($(date +%s%N) - START_NS) / 1000000 ))
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null
curl -fsS "http://127.0.0.1:$PORT/" | grep -qi "<html" || { echo "smoke: chat page missing" >&2; exit 1; }
sleep 1
EARLY_KB=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
sleep 29
IDLE_KB=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
echo "{\"bench\":\"smoke-prod\",\"workload\":\"start-to-ready\",\"readyMs\":$READY_MS,\"rssAfter1sMb\":$(( EARLY_KB / 1024 )),\"idleRssMb\":$(( IDLE_KB / 1024 ))}"

kill -TERM "$PID"
if ! wait "$PID"; then echo "smoke: unclean exit" >&2; cat "$WORK/gateway.log" >&2; exit 1; fi
PID=""
if grep -q '"level":50\|"level":60' "$WORK/gateway.log"; then echo "smoke: errors logged" >&2; cat "$WORK/gateway.log" >&2; exit 1; fi
cd "$ROOT"
echo "smoke: ok"
