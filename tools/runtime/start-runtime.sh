#!/usr/bin/env bash
# Starts one Nexus Runtime on free loopback ports — etcd, then kube-apiserver with TLS (a CA
# made with openssl), RBAC authorization, an admin identity and an agent identity (client
# certificates) — waits for /readyz, writes a kubeconfig per identity, and optionally
# installs a directory of CRDs plus least-privilege RBAC for the agent on their types.
#
#   start-runtime.sh start DIR [--crds CRD_DIR]...   start; everything lives under DIR
#   start-runtime.sh stop DIR                          stop what start started (idempotent)
#   start-runtime.sh install-crds DIR CRD_DIR          install more CRDs into a running runtime
#   start-runtime.sh stop-apiserver DIR | start-apiserver DIR   stop / restart the API server
#
# After start, DIR holds: admin.kubeconfig, agent.kubeconfig, env (shell assignments:
# NXC_RT_SERVER, NXC_RT_APISERVER_PORT, NXC_RT_ETCD_PORT), pids, logs/.
# Environment: NXC_CACHE (tool cache, default ~/.cache/nexus-connector),
# NXC_ETCD_FSYNC=1 to keep etcd's fsync (off by default: runtimes started here are for tests),
# NXC_RT_APISERVER_ARGS: extra kube-apiserver flags (e.g. --watch-cache=false), also recorded
# in DIR/env so a restart of the API server keeps them; NXC_RT_OWNER_PID: the runtime is
# stopped once that process is gone (a test that failed half-way leaves nothing running).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/runtime/common.sh
. "$here/common.sh"

die() { printf 'start-runtime: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

admin_curl() {
    local dir=$1
    shift
    # shellcheck disable=SC1091
    . "$dir/env"
    curl -sS --fail-with-body --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" \
        --key "$dir/pki/admin.key" "$@"
}

make_pki() {
    local pki=$1
    mkdir -p "$pki"
    chmod 700 "$pki"
    (
        cd "$pki"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
            -subj "/CN=nexus-runtime-ca" 2>/dev/null
        cat > server.ext <<EXT
subjectAltName = IP:127.0.0.1, DNS:localhost
extendedKeyUsage = serverAuth
EXT
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
            -subj "/CN=kube-apiserver" 2>/dev/null
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out server.crt -days 3650 -extfile server.ext 2>/dev/null
        printf 'extendedKeyUsage = clientAuth\n' > client.ext
        for id in admin:system:masters agent:nexus-connector; do
            local name=${id%%:*} org=${id#*:}
            openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" \
                -subj "/O=$org/CN=nexus-$name" 2>/dev/null
            openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
                -out "$name.crt" -days 3650 -extfile client.ext 2>/dev/null
        done
        openssl genrsa -out sa.key 2048 2>/dev/null
        openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
        rm -f ./*.csr ./*.ext ca.srl
        chmod 600 ./*.key
    )
}

write_kubeconfig() { # DIR NAME
    local dir=$1 name=$2
    # shellcheck disable=SC1091
    . "$dir/env"
    cat > "$dir/$name.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: runtime
  cluster:
    server: $NXC_RT_SERVER
    certificate-authority: pki/ca.crt
users:
- name: $name
  user:
    client-certificate: pki/$name.crt
    client-key: pki/$name.key
contexts:
- name: $name
  context:
    cluster: runtime
    user: $name
current-context: $name
KC
    chmod 600 "$dir/$name.kubeconfig"
}

start_etcd() {
    local dir=$1 bin=$2
    # shellcheck disable=SC1091
    . "$dir/env"
    local fsync=(--unsafe-no-fsync)
    [ "${NXC_ETCD_FSYNC:-0}" = 1 ] && fsync=()
    "$bin/etcd" --name runtime --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$NXC_RT_ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$NXC_RT_ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$NXC_RT_ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$NXC_RT_ETCD_PEER_PORT" \
        --initial-cluster "runtime=http://127.0.0.1:$NXC_RT_ETCD_PEER_PORT" \
        --listen-metrics-urls "http://127.0.0.1:$NXC_RT_ETCD_METRICS_PORT" \
        --quota-backend-bytes 4294967296 --log-level warn "${fsync[@]}" \
        >"$dir/logs/etcd.log" 2>&1 &
    echo $! > "$dir/etcd.pid"
    wait_for 60 etcd etcd_healthy "$(cat "$dir/etcd.pid")" ||
        die "etcd did not become healthy; see $dir/logs/etcd.log"
}

etcd_healthy() {
    kill -0 "$1" 2>/dev/null || die "etcd exited; see $dir/logs/etcd.log"
    curl -sf "http://127.0.0.1:$NXC_RT_ETCD_PORT/health"
}

start_apiserver() {
    local dir=$1 bin=$2
    # shellcheck disable=SC1091
    . "$dir/env"
    "$bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$NXC_RT_ETCD_PORT" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
        --secure-port "$NXC_RT_APISERVER_PORT" \
        --tls-cert-file "$dir/pki/server.crt" --tls-private-key-file "$dir/pki/server.key" \
        --client-ca-file "$dir/pki/ca.crt" \
        --service-account-issuer https://kubernetes.default.svc \
        --service-account-key-file "$dir/pki/sa.pub" \
        --service-account-signing-key-file "$dir/pki/sa.key" \
        --service-cluster-ip-range 10.96.0.0/24 \
        --authorization-mode RBAC \
        --endpoint-reconciler-type none \
        --enable-priority-and-fairness=false \
        --max-requests-inflight 2000 --max-mutating-requests-inflight 1000 \
        --cert-dir "$dir/pki/apiserver" \
        --profiling=false \
        ${NXC_RT_APISERVER_ARGS:-} \
        >"$dir/logs/kube-apiserver.log" 2>&1 &
    echo $! > "$dir/kube-apiserver.pid"
    wait_for 120 apiserver ready_or_dead "$dir" "$(cat "$dir/kube-apiserver.pid")" ||
        die "kube-apiserver did not become ready; see $dir/logs/kube-apiserver.log"
}

# Succeeds when /readyz answers; exits the script at once if the process died.
ready_or_dead() {
    kill -0 "$2" 2>/dev/null || die "kube-apiserver exited; see $1/logs/kube-apiserver.log"
    admin_curl "$1" "$NXC_RT_SERVER/readyz"
}

# start_watcher DIR: with NXC_RT_OWNER_PID set, one background process per DIR that stops
# the runtime when the owner has gone.
start_watcher() {
    local dir=$1 owner=${NXC_RT_OWNER_PID:-}
    [ -n "$owner" ] || return 0
    if [ -f "$dir/watcher.pid" ] && kill -0 "$(cat "$dir/watcher.pid")" 2>/dev/null; then
        return 0
    fi
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
        rm -f "$3/watcher.pid"; exec "$2" stop "$3"' watcher "$owner" "$here/start-runtime.sh" \
        "$dir" </dev/null >/dev/null 2>&1 &
    echo $! > "$dir/watcher.pid"
}

# Least-privilege role for the agent on the given CRD files: read CRDs, and read/write the
# types (and their /status) that the files define.
agent_rbac() {
    local dir=$1
    shift
    local rules="" f group plural
    for f in "$@"; do
        group=$(sed -n 's/^  group: *//p' "$f" | head -1)
        plural=$(sed -n 's/^    plural: *//p' "$f" | head -1)
        [ -n "$group" ] && [ -n "$plural" ] || continue
        rules="$rules
- apiGroups: [\"$group\"]
  resources: [\"$plural\", \"$plural/status\"]
  verbs: [get, list, watch, create, update, patch, delete]"
    done
    cat <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: nexus-agent-$(basename "$(dirname "$1")")-$(basename "$1" .yaml | tr '_' '-')
rules:
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]$rules
YAML
}

install_crds() { # DIR CRD_DIR
    local dir=$1 crds=$2 f name role
    [ -d "$crds" ] || die "no CRD directory $crds"
    # shellcheck disable=SC1091
    . "$dir/env"
    local body
    for f in "$crds"/*.yaml; do
        # Current API servers reject `uniqueItems: true` in structural schemas (quadratic
        # validation); some generated datamodels still carry it, so it is dropped here.
        body=$(sed '/^ *uniqueItems: true *$/d' "$f")
        name=$(sed -n 's/^  name: *//p' "$f" | head -1)
        apply_yaml "$dir" /apis/apiextensions.k8s.io/v1/customresourcedefinitions "$name" "$body"
    done
    for f in "$crds"/*.yaml; do
        name=$(sed -n 's/^  name: *//p' "$f" | head -1)
        wait_for 60 "CRD $name" crd_established "$dir" "$name" ||
            die "CRD $name was not established"
    done
    role=$(agent_rbac "$crds" "$crds"/*.yaml)
    name=$(sed -n 's/^  name: *//p' <<<"$role" | head -1)
    apply_yaml "$dir" "/apis/rbac.authorization.k8s.io/v1/clusterroles" "$name" "$role"
    apply_yaml "$dir" "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" "$name" \
"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: $name
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: $name
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: nexus-agent"
}

apply_yaml() { # DIR COLLECTION_PATH NAME YAML — server-side apply
    local out
    out=$(admin_curl "$1" -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
        --data-binary "$4" "$NXC_RT_SERVER$2/$3?fieldManager=start-runtime&force=true" 2>&1) ||
        die "could not apply $3: $(grep -m1 '"message"' <<<"$out" || echo "$out")"
}

crd_established() {
    admin_curl "$1" "$NXC_RT_SERVER/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$2" |
        tr -d ' \n' | grep -q '"type":"Established","status":"True"'
}

cmd=${1:-}
dir=${2:-}
case "$cmd" in
    start)
        [ -n "$dir" ] || { usage; exit 2; }
        shift 2
        crd_dirs=()
        while [ $# -gt 0 ]; do
            case "$1" in
                --crds) crd_dirs+=("$2"); shift 2 ;;
                *) die "unknown option $1" ;;
            esac
        done
        bin=$("$here/build-tools.sh" runtime)
        mkdir -p "$dir/logs"
        dir=$(cd "$dir" && pwd)
        [ -f "$dir/kube-apiserver.pid" ] && die "$dir already holds a running runtime"
        [ -d "$dir/pki" ] || make_pki "$dir/pki"
        if [ ! -f "$dir/env" ]; then
            free_port port
            free_port etcd_port
            free_port peer_port
            free_port metrics_port
            {
                echo "NXC_RT_APISERVER_PORT=$port"
                echo "NXC_RT_SERVER=https://127.0.0.1:$port"
                echo "NXC_RT_ETCD_PORT=$etcd_port"
                echo "NXC_RT_ETCD_PEER_PORT=$peer_port"
                echo "NXC_RT_ETCD_METRICS_PORT=$metrics_port"
                printf 'NXC_RT_APISERVER_ARGS=%q\n' "${NXC_RT_APISERVER_ARGS:-}"
            } > "$dir/env"
        fi
        start_watcher "$dir"
        start_etcd "$dir" "$bin"
        start_apiserver "$dir" "$bin"
        write_kubeconfig "$dir" admin
        write_kubeconfig "$dir" agent
        for c in "${crd_dirs[@]}"; do
            install_crds "$dir" "$c"
        done
        # shellcheck disable=SC1091
        . "$dir/env"
        echo "runtime ready at $NXC_RT_SERVER (kubeconfigs in $dir)"
        ;;
    install-crds)
        [ -n "$dir" ] && [ -n "${3:-}" ] || { usage; exit 2; }
        install_crds "$dir" "$3"
        ;;
    stop-apiserver)
        stop_pid "$dir/kube-apiserver.pid"
        ;;
    start-apiserver)
        start_apiserver "$dir" "$("$here/build-tools.sh" runtime)"
        ;;
    stop)
        [ -n "$dir" ] || { usage; exit 2; }
        stop_pid "$dir/kube-apiserver.pid"
        stop_pid "$dir/etcd.pid"
        stop_pid "$dir/watcher.pid"
        ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
esac
