#!/usr/bin/env bash
# Builds the test infrastructure that Debian does not package: kube-apiserver (from
# k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3), the nats CLI and toxiproxy-server
# (the TCP relay the fault tests cut and blackhole), through a small Go tools module or
# `go install` with pinned versions. Binaries are cached outside the repository, keyed by
# version, and reused when present.
#
#   tools/runtime/build-tools.sh [all|runtime|kube|kubectl|etcd|nats|toxiproxy]
#       build what is missing (default all), print the bin directory on stdout
#
# Environment: NXC_CACHE (default ~/.cache/nexus-connector).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.17}
NATSCLI_VERSION=${NATSCLI_VERSION:-v0.2.4}
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-v2.5.0}

cache=${NXC_CACHE:-$HOME/.cache/nexus-connector}
bin="$cache/bin"
mkdir -p "$bin"

log() { printf 'build-tools: %s\n' "$*" >&2; }

need_go() {
    if ! command -v go >/dev/null 2>&1; then
        for g in /usr/local/go/bin/go /usr/lib/go/bin/go; do
            [ -x "$g" ] && export PATH="$(dirname "$g"):$PATH" && return 0
        done
        log "go toolchain not found (needed for kube-apiserver, etcd, the nats CLI, toxiproxy)"
        exit 1
    fi
}

# build_in MODDIR PKG OUT: build PKG inside the tools module MODDIR into OUT atomically.
build_in() {
    local moddir=$1 pkg=$2 out=$3
    (cd "$moddir" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp" "$pkg")
    mv -f "$out.tmp" "$out"
}

build_kube() {
    local out="$bin/kube-apiserver-$K8S_VERSION"
    [ -x "$out" ] && return 0
    need_go
    local start=$SECONDS mod="$cache/src/kube-$K8S_VERSION"
    log "building kube-apiserver $K8S_VERSION (cold build takes several minutes)"
    rm -rf "$mod" && mkdir -p "$mod"
    # The release's own go.mod lists its staging modules as replace directives pointing
    # into ./staging; each is published as k8s.io/<name> v0.<minor>.<patch>.
    local gomod staging
    gomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
        sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
    staging="v0.${K8S_VERSION#v1.}"
    {
        echo "module nxc.local/kubetools"
        echo
        echo "go 1.24"
        echo
        echo "require k8s.io/kubernetes $K8S_VERSION"
        echo
        awk -v v="$staging" '
            /^replace[[:space:]]*\(/ { inrep = 1; next }
            inrep && /^\)/ { inrep = 0; next }
            inrep && $2 == "=>" && $3 ~ /^\.\/staging\// { printf "replace %s => %s %s\n", $1, $1, v }
            /^replace[[:space:]]+[^(]/ && $3 == "=>" && $4 ~ /^\.\/staging\// { printf "replace %s => %s %s\n", $2, $2, v }
        ' "$gomod"
    } > "$mod/go.mod"
    printf 'package tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > "$mod/tools.go"
    (cd "$mod" && go mod tidy >/dev/null 2>&1 || go mod tidy)
    build_in "$mod" k8s.io/kubernetes/cmd/kube-apiserver "$out"
    log "kube-apiserver $K8S_VERSION built in $((SECONDS - start))s"
}

build_etcd() {
    local out="$bin/etcd-$ETCD_VERSION"
    [ -x "$out" ] && return 0
    need_go
    local start=$SECONDS mod="$cache/src/etcd-$ETCD_VERSION"
    log "building etcd $ETCD_VERSION"
    rm -rf "$mod" && mkdir -p "$mod"
    printf 'module nxc.local/etcdtools\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
        "$ETCD_VERSION" > "$mod/go.mod"
    printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\n' > "$mod/tools.go"
    mkdir -p "$mod/cmd/etcd"
    cat > "$mod/cmd/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    (cd "$mod" && go mod tidy >/dev/null 2>&1 || go mod tidy)
    build_in "$mod" ./cmd/etcd "$out"
    log "etcd $ETCD_VERSION built in $((SECONDS - start))s"
}

build_kubectl() {
    local out="$bin/kubectl-$K8S_VERSION" mod="$cache/src/kube-$K8S_VERSION"
    [ -x "$out" ] && return 0
    build_kube
    local start=$SECONDS
    log "building kubectl $K8S_VERSION"
    printf 'package tools\n\nimport _ "k8s.io/kubernetes/cmd/kubectl"\n' > "$mod/kubectl.go"
    (cd "$mod" && go mod tidy >/dev/null 2>&1 || go mod tidy)
    build_in "$mod" k8s.io/kubernetes/cmd/kubectl "$out"
    log "kubectl $K8S_VERSION built in $((SECONDS - start))s"
}

build_natscli() {
    local out="$bin/nats-$NATSCLI_VERSION"
    [ -x "$out" ] && return 0
    need_go
    local start=$SECONDS
    log "building nats CLI $NATSCLI_VERSION"
    GOBIN="$cache/src/natscli-$NATSCLI_VERSION" CGO_ENABLED=0 \
        go install -trimpath -ldflags='-s -w' "github.com/nats-io/natscli/nats@$NATSCLI_VERSION"
    mv -f "$cache/src/natscli-$NATSCLI_VERSION/nats" "$out"
    log "nats CLI $NATSCLI_VERSION built in $((SECONDS - start))s"
}

# toxiproxy-server only: the fault tests drive it over its HTTP API, so the CLI is not needed.
build_toxiproxy() {
    local out="$bin/toxiproxy-server-$TOXIPROXY_VERSION"
    [ -x "$out" ] && return 0
    need_go
    local start=$SECONDS gobin="$cache/src/toxiproxy-$TOXIPROXY_VERSION"
    log "building toxiproxy-server $TOXIPROXY_VERSION"
    GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' \
        "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
    mv -f "$gobin/server" "$out"
    log "toxiproxy-server $TOXIPROXY_VERSION built in $((SECONDS - start))s"
}

what=${1:-all}
case "$what" in
    all) build_etcd; build_natscli; build_toxiproxy; build_kube; build_kubectl ;;
    runtime) build_etcd; build_kube ;;
    kube) build_kube ;;
    kubectl) build_kubectl ;;
    etcd) build_etcd ;;
    nats) build_natscli ;;
    toxiproxy) build_toxiproxy ;;
    *) log "usage: $0 [all|runtime|kube|kubectl|etcd|nats|toxiproxy]"; exit 2 ;;
esac
ln -sf "kube-apiserver-$K8S_VERSION" "$bin/kube-apiserver"
ln -sf "kubectl-$K8S_VERSION" "$bin/kubectl"
ln -sf "etcd-$ETCD_VERSION" "$bin/etcd"
ln -sf "nats-$NATSCLI_VERSION" "$bin/nats"
ln -sf "toxiproxy-server-$TOXIPROXY_VERSION" "$bin/toxiproxy-server"
echo "$bin"
