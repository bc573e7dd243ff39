# Shell helpers shared by the runtime scripts (sourced, not run).

# free_port VAR: sets VAR to a TCP port on 127.0.0.1 that no socket uses and that this shell
# has not handed out before (no subshell, so the list of handed-out ports persists). Ports
# come from 10000-32767, below Linux's range for outgoing connections (32768-60999), so a
# client connection made meanwhile cannot take the port before the server binds it.
_nxc_taken=""
free_port() {
    local p listening
    listening=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
    for _ in $(seq 1 200); do
        p=$((10000 + RANDOM % 22768))
        if ! grep -qx "$p" <<<"$listening" && ! grep -qw "$p" <<<"$_nxc_taken"; then
            _nxc_taken="$_nxc_taken $p"
            printf -v "$1" '%s' "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
    local secs=$1
    shift 2
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.2
    done
}

# stop_pid FILE: SIGTERM the process whose pid FILE holds, SIGKILL after 10 s; removes FILE.
stop_pid() {
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}
