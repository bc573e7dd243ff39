#!/usr/bin/env bash
# The local demo: two Nexus Runtimes ("saas" and "edge": etcd + kube-apiserver each, with the
# example Nexus datamodel and the connector's own CRDs installed), one nats-server with
# JetStream, and two nexus-agent processes. It creates a Root -> Config -> Gns tree on saas,
# asks for the sub-graph below the Config with a ReplicationConfig, shows it arriving on edge
# (and the Root, which was not asked for, staying home), changes it on edge and shows the
# change coming back to saas, then keeps everything running so you can poke it, until Ctrl-C.
#
#   tools/demo.sh           run the demo and keep it running (Ctrl-C stops everything)
#   tools/demo.sh --once    run the demo, then stop everything and exit
#   tools/demo.sh stop-agent ID | start-agent ID
#                           in another terminal, while the demo runs: stop or start again
#                           the agent of runtime ID (saas or edge), e.g. to try an outage
#
# Environment: NXC_DEMO_DIR (default /tmp/nexus-demo), NXC_DATAMODEL (CRD directory,
# default ../shared/datamodels/example beside the repository).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
once=0
[ "${1:-}" = --once ] && once=1
work=${NXC_DEMO_DIR:-/tmp/nexus-demo}
agent_bin="$root/build/nexus-agent"

# agent_up ID: starts the agent of runtime ID from its config in $work, detached.
agent_up() {
    setsid "$agent_bin" --config "$work/agent-$1.yaml" >>"$work/agent-$1.log" 2>&1 </dev/null &
    echo $! > "$work/agent-$1.pid"
}

# agent_down ID: stops it (SIGTERM: it finishes what is in flight) and waits until it is gone.
agent_down() {
    local pid
    pid=$(cat "$work/agent-$1.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$work/agent-$1.pid"
}

agent_running() { # a process that exited but was not reaped yet (a zombie) does not count
    local pid
    pid=$(cat "$work/agent-$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null &&
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

# The command that acts on this demo from another terminal.
self="$here/demo.sh"
[ "$work" = /tmp/nexus-demo ] || self="NXC_DEMO_DIR=$work $self"

case "${1:-}" in
    stop-agent | start-agent)
        id=${2:-}
        case "$id" in saas | edge) ;; *) echo "demo: $1 takes saas or edge" >&2; exit 2 ;; esac
        [ -f "$work/agent-$id.yaml" ] || { echo "demo: no demo runs in $work" >&2; exit 1; }
        if [ "$1" = stop-agent ]; then
            agent_down "$id"
            echo "agent $id stopped; changes on both sides wait ($self start-agent $id)"
        elif agent_running "$id"; then
            echo "agent $id is running already"
        else
            agent_up "$id"
            echo "agent $id started; it catches up (log: $work/agent-$id.log)"
        fi
        exit 0
        ;;
esac
crds=${NXC_DATAMODEL:-$root/../shared/datamodels/example}
[ -d "$crds" ] || { echo "demo: no datamodel at $crds (set NXC_DATAMODEL)" >&2; exit 1; }
crds=$(cd "$crds" && pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing what is missing and building"
"$here/setup.sh"
bin="$HOME/.cache/nexus-connector/bin"
cmake -S "$root" -B "$root/build" >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target nexus-agent nexus-inspect >/dev/null

cleanup() {
    set +e
    say "stopping"
    for id in saas edge; do
        agent_down "$id"
        "$here/runtime/start-runtime.sh" stop "$work/runtime-$id"
    done
    "$here/runtime/start-nats.sh" stop "$work/nats"
    echo "stopped; logs and state stay in $work"
}

# Stop a previous demo that is still running in the same directory, then start afresh.
if [ -d "$work" ]; then
    for id in saas edge; do
        [ -f "$work/agent-$id.pid" ] && kill "$(cat "$work/agent-$id.pid")" 2>/dev/null || true
        [ -d "$work/runtime-$id" ] && "$here/runtime/start-runtime.sh" stop "$work/runtime-$id"
    done
    [ -d "$work/nats" ] && "$here/runtime/start-nats.sh" stop "$work/nats"
    rm -rf "$work"
fi
mkdir -p "$work"
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting two runtimes with the datamodel in $crds and the connector's CRDs"
for id in saas edge; do
    "$here/runtime/start-runtime.sh" start "$work/runtime-$id" --crds "$crds" --crds "$root/schemas"
done
say "starting nats-server with JetStream"
"$here/runtime/start-nats.sh" start "$work/nats"
. "$work/nats/env"

start_agent() { # ID PEER
    local id=$1 peer=$2
    cat > "$work/agent-$id.yaml" <<YAML
runtime:
  id: $id
  kubeconfig: $work/runtime-$id/agent.kubeconfig
nats:
  urls: $NXC_NATS_URL
peers:
  - id: $peer
store:
  path: $work/agent-$id-store
http:
  listen: 127.0.0.1:0
YAML
    agent_up "$id"
}

say "starting the two agents"
start_agent saas edge
start_agent edge saas
echo "agent logs: $work/agent-saas.log and $work/agent-edge.log"
for id in saas edge; do
    end=$((SECONDS + 30))
    until addr=$(grep -o 'event=listening addr=[0-9.:]*' "$work/agent-$id.log" 2>/dev/null); do
        [ $SECONDS -lt $end ] || { echo "demo: agent $id did not start; see $work/agent-$id.log" >&2; exit 1; }
        sleep 0.2
    done
    echo "agent $id: http://${addr#event=listening addr=}/readyz and /metrics"
done

kc_saas=("$bin/kubectl" --kubeconfig "$work/runtime-saas/admin.kubeconfig")
kc_edge=("$bin/kubectl" --kubeconfig "$work/runtime-edge/admin.kubeconfig")

wait_until() { # SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2
    shift 2
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then
            echo "demo: timed out waiting for $what; see the agent logs in $work" >&2
            exit 1
        fi
        sleep 0.2
    done
}

say "creating a Root -> Config -> Gns tree on saas: nothing is replicated yet"
for f in root config gns; do
    "${kc_saas[@]}" create -f "$root/tests/fixtures/example/$f.json"
done

say "asking for the sub-graph below Config \"config\" on edge (a ReplicationConfig on saas)"
cat > "$work/replicationconfig.yaml" <<'YAML'
apiVersion: connect.nexus.vmware.com/v1
kind: ReplicationConfig
metadata:
  name: config-to-edge
spec:
  remoteEndpointGvk: {group: connect.nexus.vmware.com, kind: NexusEndpoint, name: edge}
  deletionPolicy: Delete
  source:
    kind: Object
    object:
      objectType: {group: config.tsm.tanzu.vmware.com, kind: Config, version: v1}
      name: config
      hierarchy:
        labels: [{key: roots.root.tsm.tanzu.vmware.com, value: default}]
YAML
sed 's/^/  /' "$work/replicationconfig.yaml"
"${kc_saas[@]}" apply -f "$work/replicationconfig.yaml"

say "waiting for it on edge"
wait_until 60 "gns-1 on edge" "${kc_edge[@]}" get gnses gns-1
"${kc_edge[@]}" get configs,gnses -L nexus/display_name
echo "root-1 was not asked for: $("${kc_edge[@]}" get roots 2>&1 | head -1)"
echo
echo "edge's gns-1 spec.annotations (integers kept digit for digit):"
"${kc_edge[@]}" get gnses gns-1 -o jsonpath='{.spec.annotations}'
echo
wait_until 30 "the config to report Synced" bash -c \
    "[ \"\$(${kc_saas[*]} get replicationconfigs config-to-edge -o jsonpath='{.status.conditions[?(@.type==\"Synced\")].status}')\" = True ]"
"${kc_saas[@]}" get replicationconfigs

say "changing config-1 on edge: spec.myStr0 = changed-on-edge"
"${kc_edge[@]}" patch configs config-1 --type merge -p '{"spec":{"myStr0":"changed-on-edge"}}'
wait_until 60 "the change on saas" bash -c \
    "[ \"\$(${kc_saas[*]} get configs config-1 -o jsonpath='{.spec.myStr0}')\" = changed-on-edge ]"
echo "saas now has spec.myStr0 = $("${kc_saas[@]}" get configs config-1 -o jsonpath='{.spec.myStr0}')"

say "what the agents logged"
grep -h 'event=\(local-change\|applied\)' "$work/agent-saas.log" "$work/agent-edge.log" | sort |
    sed 's/^/  /'

if [ $once -eq 1 ]; then
    echo
    echo "The demo ran through; stopping everything (without --once it keeps running)."
    exit 0
fi
cat <<TXT

The demo is running. Try it (copy and paste):

  export PATH=$bin:\$PATH
  alias kc-saas='kubectl --kubeconfig $work/runtime-saas/admin.kubeconfig'
  alias kc-edge='kubectl --kubeconfig $work/runtime-edge/admin.kubeconfig'

  kc-edge get gnses -w                                   # watch edge in another terminal
  kc-saas patch gnses gns-1 --type merge -p '{"spec":{"port":9}}'
  kc-saas get replicationconfigs -o yaml                 # conditions and counts
  kc-saas delete replicationconfigs config-to-edge       # policy Delete: edge's replicas go
  nats --server $NXC_NATS_URL stream ls                  # one stream per runtime
  nats --server $NXC_NATS_URL stream view NXC_saas       # headers show key, op, vectors
  tail -f $work/agent-saas.log $work/agent-edge.log
  $self stop-agent edge    # an outage: change both sides meanwhile,
  $self start-agent edge   # then watch edge catch up

TXT
echo "Press Ctrl-C to stop everything."
down=""
while true; do
    for id in saas edge; do
        if ! agent_running "$id" && [[ " $down " != *" $id "* ]]; then
            echo "agent $id is not running (log: $work/agent-$id.log; start it: $self start-agent $id)"
            down="$down $id"
        elif agent_running "$id"; then
            down=${down// $id/}
        fi
    done
    sleep 1
done
