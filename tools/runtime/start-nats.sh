#!/usr/bin/env bash
# Starts a nats-server (Debian package) with JetStream on a free loopback port and its own
# store directory, for the demo and manual experiments (tests start their own servers).
#
#   start-nats.sh start DIR [--port PORT]   start; DIR/env gets NXC_NATS_URL
#   start-nats.sh stop DIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/runtime/common.sh
. "$here/common.sh"

die() { printf 'start-nats: %s\n' "$*" >&2; exit 1; }

cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || { sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
case "$cmd" in
    start)
        port=""
        [ "${3:-}" = --port ] && port=${4:-}
        command -v nats-server >/dev/null || die "nats-server not installed (tools/setup.sh)"
        mkdir -p "$dir/jetstream"
        dir=$(cd "$dir" && pwd)
        [ -n "$port" ] || free_port port
        nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir/jetstream" -n "nxc-$port" \
            >"$dir/nats-server.log" 2>&1 &
        echo $! > "$dir/nats-server.pid"
        wait_for 30 nats bash -c "echo > /dev/tcp/127.0.0.1/$port" ||
            die "nats-server did not start; see $dir/nats-server.log"
        echo "NXC_NATS_URL=nats://127.0.0.1:$port" > "$dir/env"
        echo "nats-server ready at nats://127.0.0.1:$port"
        ;;
    stop) stop_pid "$dir/nats-server.pid" ;;
    *) die "unknown command '$cmd' (start|stop)" ;;
esac
