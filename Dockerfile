# syntax=docker/dockerfile:1
# The supervisor and the worker in one image. Default command: the supervisor running
# /etc/jetbrains-ai/fleet.yaml; `render kubernetes` runs single workers from it
# (command jetbrains-ai-proxy --config FILE --tenant NAME).
#   docker build -t jetbrains-ai-proxy:0.1.0 .

FROM swift:6.3-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the manifest changes.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product jetbrains-ai-proxy \
    && swift build -c release --static-swift-stdlib --product jetbrains-ai-supervisor \
    && mkdir -p /out \
    && cp "$(swift build -c release --show-bin-path)/jetbrains-ai-proxy" \
          "$(swift build -c release --show-bin-path)/jetbrains-ai-supervisor" /out/

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 jetbrains-ai \
    && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/jetbrains-ai \
       --no-create-home --shell /usr/sbin/nologin jetbrains-ai \
    && mkdir -p /etc/jetbrains-ai /var/lib/jetbrains-ai /run/jetbrains-ai \
    && chown 65532:65532 /var/lib/jetbrains-ai /run/jetbrains-ai
COPY --from=build /out/jetbrains-ai-proxy /out/jetbrains-ai-supervisor /usr/local/bin/
USER 65532:65532
WORKDIR /var/lib/jetbrains-ai
EXPOSE 8080 9090
CMD ["jetbrains-ai-supervisor", "run", "/etc/jetbrains-ai/fleet.yaml"]
