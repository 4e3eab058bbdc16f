# syntax=docker/dockerfile:1
# hexfield images, one multi-stage file:
#
#   oracled   the oracle node, with the hexfield CLI (cgo: h3), Debian slim
#   hotspotd  the hotspot daemon, static (CGO_ENABLED=0), from scratch, for
#             linux/amd64, linux/arm64 and linux/arm/v7
#
#   docker build --target oracled -t hexfield/oracled .
#   docker buildx build --target hotspotd --platform linux/amd64,linux/arm64,linux/arm/v7 -t hexfield/hotspotd .
#   podman build --target hotspotd --platform linux/arm64 -t hexfield/hotspotd .
#
# hotspotd is cross-compiled on the build machine's platform (no emulation
# needed); oracled links h3 with cgo, so it is built natively for the
# platform the image is for (amd64 is the one tested). compose.yaml runs
# both.

ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# Module downloads, shared by both builds.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS modules
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download

# hotspotd: pure Go, cross-compiled for TARGETPLATFORM.
FROM --platform=$BUILDPLATFORM modules AS hotspotd-build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG TARGETVARIANT=
COPY . .
RUN GOARM="${TARGETVARIANT#v}" CGO_ENABLED=0 GOOS="$TARGETOS" GOARCH="$TARGETARCH" \
      go build -trimpath -ldflags='-s -w' -o /out/hotspotd ./cmd/hotspotd \
 && mkdir -p /out/var/lib/hotspotd /out/etc/hotspotd \
 && cp configs/hotspotd.toml /out/etc/hotspotd/hotspotd.toml

# oracled and hexfield: cgo (h3), built for the image's own platform.
FROM ${GO_IMAGE} AS oracled-build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/oracled ./cmd/hexfield

FROM scratch AS hotspotd
COPY --from=hotspotd-build /out/hotspotd /usr/local/bin/hotspotd
COPY --from=hotspotd-build --chown=65534:65534 /out/var/lib/hotspotd /var/lib/hotspotd
COPY --from=hotspotd-build /out/etc/hotspotd /etc/hotspotd
USER 65534:65534
# The packet forwarder's Semtech UDP port and the status API. Inside a
# container they listen on every interface; publish them on the host's
# loopback only (compose.yaml does): anyone who reaches 1680 can inject frames.
ENV HEXFIELD_HOTSPOT_DATA_DIR=/var/lib/hotspotd \
    HEXFIELD_HOTSPOT_SEMTECH_LISTEN=0.0.0.0:1680 \
    HEXFIELD_HOTSPOT_STATUS_LISTEN=0.0.0.0:4468
EXPOSE 1680/udp 4468/tcp
VOLUME /var/lib/hotspotd
ENTRYPOINT ["/usr/local/bin/hotspotd"]
CMD ["run", "--config", "/etc/hotspotd/hotspotd.toml"]

FROM ${RUNTIME_IMAGE} AS oracled
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/oracled --create-home oracled \
 && mkdir -p /etc/oracled
COPY --from=oracled-build /out/oracled /out/hexfield /usr/local/bin/
COPY configs/oracled.toml /etc/oracled/oracled.toml
USER oracled
# QUIC ingest (UDP), the public HTTP API with the map, and /metrics.
ENV HEXFIELD_ORACLE_METRICS_LISTEN=0.0.0.0:8091
EXPOSE 4433/udp 8090/tcp 8091/tcp
VOLUME /var/lib/oracled
ENTRYPOINT ["/usr/local/bin/oracled"]
CMD ["run", "--config", "/etc/oracled/oracled.toml"]
