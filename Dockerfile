# syntax=docker/dockerfile:1
# The sparkplane image for those who build with Docker/BuildKit:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     -t ghcr.io/sparkplane/sparkplane:TAG --push .
#
# It is NOT built or tested in this repository's CI (no Docker daemon and no
# container registry there); the image CI builds and tests comes from
# hack/build-image.sh (`make image`), which needs neither. Both give a static
# /sparkplane (./cmd/sparkplane-image: the production commands, without the
# developer commands local and demo) run as UID/GID 65532 with
# ENTRYPOINT ["/sparkplane"]; this one
# sits on distroless static:nonroot (adds CA certificates, tzdata and
# /etc/passwd, still no shell), that one on an empty base. See docs/image.md.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X github.com/sparkplane/sparkplane/pkg/cli.Version=${VERSION}" \
      -o /out/sparkplane ./cmd/sparkplane-image

FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title=sparkplane \
      org.opencontainers.image.source=https://github.com/sparkplane/sparkplane \
      org.opencontainers.image.version=$VERSION
COPY --from=build /out/sparkplane /sparkplane
USER 65532:65532
ENTRYPOINT ["/sparkplane"]
