# gokv image: static gokv, jwt-gen and gokvctl on distroless, as non-root.
#
# GO_IMAGE and BASE_IMAGE are build arguments so that the Go version is
# bumped in one place and so that machines without a registry can build
# with local stand-ins (hack/image.sh does that).
ARG GO_VERSION=1.26
ARG GO_IMAGE=golang:${GO_VERSION}-alpine
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Empty means Go's default proxy.
ARG GOPROXY
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# Dependencies first, in their own layer: it is rebuilt only when
# go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY api ./api
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
# nomsgpack leaves out Gin's MessagePack codec, which gokv never uses and
# which is a quarter of the binary.
RUN go build -tags nomsgpack -ldflags "-s -w -X main.version=${VERSION}" -o /out/ ./cmd/gokv ./cmd/jwt-gen ./cmd/gokvctl

FROM ${BASE_IMAGE}
COPY --from=build /out/gokv /out/jwt-gen /out/gokvctl /
USER 65532:65532
# With the default DB_PATH (./data) a plain `docker run` keeps its data in
# the nonroot user's home; the chart mounts a volume at DB_PATH=/data.
WORKDIR /home/nonroot
# The API, and Prometheus metrics (METRICS_PORT).
EXPOSE 8080 9090
ENTRYPOINT ["/gokv"]
