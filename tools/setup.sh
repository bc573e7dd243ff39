#!/usr/bin/env bash
# Installs what building, testing and the demo need, idempotently: the Debian packages that
# are missing, then the Go-built test infrastructure (kube-apiserver, etcd, kubectl, the nats
# CLI) into the cache outside the repository (tools/runtime/build-tools.sh).
#
#   tools/setup.sh            packages + tool builds
#   tools/setup.sh packages   packages only
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PACKAGES=(
    build-essential cmake pkg-config git ca-certificates curl openssl iproute2
    libnats-dev libcurl4-openssl-dev libssl-dev libmsgpack-dev liblmdb-dev
    libcriterion-dev libjansson-dev libyaml-dev libmicrohttpd-dev
    nats-server clang-format
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
fi

[ "${1:-all}" = packages ] && exit 0

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
    echo "setup: a Go toolchain (1.24 or newer) is needed to build kube-apiserver and etcd" \
        "for tests and the demo; install it at /usr/local/go or on PATH" >&2
    exit 1
fi
"$here/runtime/build-tools.sh" all >/dev/null
