# Sourced by .ci/run: start a throwaway PostgreSQL server for the SQL source and output tests and export
# TEST_POSTGRES_URL. Installs Debian's postgresql when no server binaries are found. Never fails the CI run:
# without a server those tests skip with their reason.
_segment_pg_start() {
    local bin="" d
    for d in "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /none/pg_ctl)")" /usr/lib/postgresql/*/bin; do
        if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then bin="$d"; break; fi
    done
    if [ -z "$bin" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "ci: installing Debian's postgresql"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
        for d in /usr/lib/postgresql/*/bin; do
            if [ -x "$d/pg_ctl" ]; then bin="$d"; fi
        done
    fi
    if [ -z "$bin" ]; then echo "ci: no PostgreSQL server binaries"; return 1; fi
    local run=() user
    user="$(id -un)"
    if [ "$(id -u)" = "0" ]; then  # the server refuses to run as root
        id -u segci >/dev/null 2>&1 || useradd --system --no-create-home segci || return 1
        user=segci
        run=(runuser -u segci --)
    fi
    local dir port
    dir="$(mktemp -d /tmp/segment-pg.XXXXXX)" && chown "$user" "$dir" || return 1
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${run[@]}" "$bin/initdb" -D "$dir/data" -U segment --auth=trust >"$dir/initdb.log" 2>&1 || return 1
    "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null || return 1
    export TEST_POSTGRES_URL="postgresql+psycopg://segment@127.0.0.1:$port/postgres"
    echo "ci: PostgreSQL running on port $port ($dir)"
}
_segment_pg_start || echo "ci: PostgreSQL could not be started; its tests will skip"
