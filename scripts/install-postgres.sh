#!/usr/bin/env bash
# Install the PostgreSQL server binaries the storage tests and benchmark run: Debian's
# `postgresql` package, whose initdb, pg_ctl and postgres land in /usr/lib/postgresql/<v>/bin.
# The tests start their own private cluster in a temporary folder (tests/postgres.py); no
# system cluster or service is wanted, so Debian is told not to create its "main" cluster
# (with no cluster, the postgresql service has nothing to start).
#  - initdb, pg_ctl and postgres already there: nothing to do.
#  - otherwise: apt-get install postgresql (with sudo when not root).
set -euo pipefail
have_server() {
    local bin
    for bin in /usr/lib/postgresql/*/bin; do
        [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ] && return 0
    done
    return 1
}
if have_server; then
    echo "postgresql server binaries already installed: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-postgres.sh: no PostgreSQL server binaries and no apt-get: install the" \
         "PostgreSQL server with your system's package manager, and point K49_PG_BIN at the" \
         "folder holding initdb, pg_ctl and postgres" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# No "main" cluster on install (postgresql-common reads createcluster.d), hence no server.
$SUDO mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" \
    | $SUDO tee /etc/postgresql-common/createcluster.d/k49-no-main-cluster.conf >/dev/null
# The package lists may be stale (or absent, in a fresh container): refresh them once on failure.
if ! $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
if ! have_server; then
    echo "install-postgres.sh: installed the postgresql package, but found no initdb, pg_ctl" \
         "and postgres in /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
echo "postgresql installed: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
