#!/usr/bin/env bash
# Usage: hack/offline/go-image.sh
#
# Makes the Go builder image that stands in for golang:1.26-alpine when no
# registry is reachable: the Debian base + this machine's Go toolchain
# (GOTOOLCHAIN=local) + this machine's CA bundle, so that `go mod download`
# inside `docker build` (with --build-arg GOPROXY=...) trusts the same
# servers as the machine. Prints the image reference on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

base=$("$GOKV_HACK_DIR/offline/debian-base.sh")
goroot=$(go env GOROOT)
gover=$(go_version)
[[ -f $CA_BUNDLE ]] || die "$CA_BUNDLE not found: the builder image needs the machine's CA bundle"

# Same layout as the official golang images: GOPATH=/go, Go in /usr/local/go.
cat >"$tmp/Dockerfile" <<DOCKERFILE
FROM $base
COPY go/ /usr/local/go/
COPY ca-certificates.crt $CA_BUNDLE
ENV GOPATH=/go GOTOOLCHAIN=local \\
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /go/bin /go/src && chmod -R 1777 /go && go version
WORKDIR /go
DOCKERFILE

REF=$(image_ref golang "${gover#go}" "${BASH_SOURCE[0]}" "$tmp/Dockerfile" "$(image_id "$base")" "$CA_BUNDLE" "$gover")

build() {
  log "building $REF from $goroot"
  # The context streams as one tar so the toolchain is not copied to disk first.
  tar -c -C "$tmp" Dockerfile -C "$(dirname "$CA_BUNDLE")" ca-certificates.crt \
    -C "$(dirname "$goroot")" --transform "s,^$(basename "$goroot"),go," "$(basename "$goroot")" |
    docker build -q -t "$REF" - >&2
}

ensure_image "$REF" "$(image_tarball "$REF")" build
printf '%s\n' "$REF"
