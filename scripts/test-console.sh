#!/usr/bin/env bash
# End-to-end test of the office console in a real browser: Debian's headless Chromium driven by
# playwright-core. Installs what is missing, starts gridwalk-server (debug build) on a free
# loopback port with a fresh data directory and a staff account, and runs
# sync-server/tests/e2e/console.test.mjs, which also drives scripted phones (the
# console_device example). Screenshots land in sync-server/tests/e2e/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
# A CJK font, so the screenshots show Chinese text instead of empty boxes.
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi

echo "== console e2e: build"
cargo build -p gridwalk-server --bin gridwalk-server --example console_device --locked
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/gridwalk-server"
device="$target/debug/examples/console_device"

(cd sync-server/tests/e2e && npm ci --no-audit --no-fund --silent)

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
password="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$password" | "$bin" staff-add --user clerk --role office --password-stdin --data-dir "$work/data" >/dev/null
"$bin" serve --addr "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

echo "== console e2e: browser"
status=0
BASE_URL="http://127.0.0.1:$port" CLERK_USER=clerk CLERK_PASSWORD="$password" \
  DEVICE_BIN="$(realpath "$device")" WORK_DIR="$work" \
  node sync-server/tests/e2e/console.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "-- server log (last 40 lines)"
  tail -n 40 "$work/server.log"
fi
exit "$status"
