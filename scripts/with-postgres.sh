#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server: installs PostgreSQL from Debian when it is
# missing, creates a cluster in a temporary directory, starts it on 127.0.0.1 on a free port,
# exports its URL as GRIDWALK_TEST_PG for the command, and stops and deletes the cluster after.
#   scripts/with-postgres.sh cargo test -p gridwalk-server
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG…]" >&2; exit 2; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  echo "== installing PostgreSQL" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bin="$(pg_bin)"

# PostgreSQL refuses to run as root; then the cluster belongs to the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
dir="$(mktemp -d)"
chmod 755 "$dir"
mkdir "$dir/data"
chmod 700 "$dir/data"
if [ "$(id -u)" = 0 ]; then chown postgres "$dir" "$dir/data"; fi

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 30000 ))
    # Nothing answers there (bash's /dev/tcp connects, or fails when the port is free).
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}
port="$(free_port)"

stop() {
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
# Loopback only, the socket in the temporary directory, room for the tests' parallel servers.
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400" start >/dev/null
export GRIDWALK_TEST_PG="postgres://postgres@127.0.0.1:$port/postgres"
echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2

status=0
"$@" || status=$?
exit "$status"
