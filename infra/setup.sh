#!/usr/bin/env bash
# Idempotent installer for the ledger's local services (no Docker): installs Java 17, Maven and
# Debian's clickhouse-server/clickhouse-client with apt only when missing, then fetches the Kafka
# jars (and the ZooKeeper jars of the ClickHouse cluster) with Maven into the project cache only
# when they are not cached yet.
# Usage: infra/setup.sh            (run from anywhere; uses .venv/bin/python if present)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
[ -x /usr/sbin/clickhouse-server ] || command -v clickhouse-server >/dev/null 2>&1 \
    || missing+=(clickhouse-server)
command -v clickhouse-client >/dev/null 2>&1 || missing+=(clickhouse-client)

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
else
    echo "setup: java, mvn, clickhouse-server and clickhouse-client already installed" >&2
fi

python="${root}/.venv/bin/python"
[ -x "$python" ] || python="$(command -v python3)"
cd "$root"
"$python" -m ledger infra fetch
