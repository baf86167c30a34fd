#!/usr/bin/env bash
# Usage: hack/offline/probe-image.sh GO_IMAGE BASE_IMAGE
#
# Proves that GO_IMAGE and BASE_IMAGE can stand in for golang:1.26-alpine and
# distroless static:nonroot in a Dockerfile of the project's shape (builder
# and base as ARGs, `go mod download` with GOPROXY as a build arg, static
# CGO_ENABLED=0 build, USER 65532:65532), by building a tiny HTTP server with
# one module dependency and running it. The image (gokv.local/probe) is also
# what hack/offline/smoke.sh deploys. Prints its reference on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

(($# == 2)) || die "usage: $0 GO_IMAGE BASE_IMAGE"
GO_IMAGE=$1 BASE_IMAGE=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/src"
cat >"$tmp/src/Dockerfile" <<'DOCKERFILE'
# Same shape as the project's Dockerfile: both ARGs are declared before the
# first FROM because an ARG used in a FROM line must be (Docker's scoping rule).
ARG GO_IMAGE=golang:1.26-alpine
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot
FROM ${GO_IMAGE} AS build
ARG GOPROXY
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/probe .

FROM ${BASE_IMAGE}
COPY --from=build /out/probe /usr/local/bin/probe
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/probe"]
DOCKERFILE
cat >"$tmp/src/main.go" <<'GO'
// Command probe is a tiny HTTP server for checking the offline images and
// cluster: GET / answers with its identity, PUT /file writes the request body
// to $DATA_DIR/probe.txt, GET /file reads it back. With -check it prints its
// identity and exits.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

func main() {
	check := flag.Bool("check", false, "print identity and exit")
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	id := fmt.Sprintf("probe %s uid=%d gid=%d", uuid.NewString(), os.Getuid(), os.Getgid())
	if *check {
		fmt.Println(id)
		return
	}
	file := filepath.Join(os.Getenv("DATA_DIR"), "probe.txt")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, id) })
	http.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			body, _ := io.ReadAll(r.Body)
			if err := os.WriteFile(file, body, 0o600); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			b, err := os.ReadFile(file)
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			w.Write(b)
		}
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
GO
cat >"$tmp/src/go.mod" <<'GOMOD'
module example.com/probe

go 1.24

require github.com/google/uuid v1.6.0
GOMOD
# go.sum from the same proxy the image build will use.
(cd "$tmp/src" && GOFLAGS=-mod=mod go mod download github.com/google/uuid && go mod tidy) >&2

REF=$(image_ref probe v1 "${BASH_SOURCE[0]}" "$(image_id "$GO_IMAGE")" "$(image_id "$BASE_IMAGE")")

build() {
  log "building $REF with a project-shaped Dockerfile"
  docker build -q -t "$REF" \
    --build-arg GO_IMAGE="$GO_IMAGE" --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --build-arg GOPROXY="$(go env GOPROXY)" "$tmp/src" >&2
}

ensure_image "$REF" "$(image_tarball "$REF")" build
# Run it as the project's pods will: read-only root, no shell needed.
out=$(docker run --rm --read-only "$REF" -check)
[[ $out == *"uid=65532 gid=65532"* ]] || die "probe image runs as the wrong user: $out"
log "probe image runs: $out"
printf '%s\n' "$REF"
