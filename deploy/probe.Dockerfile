# syntax=docker/dockerfile:1
# faultline-probe. From the repository root:
#   docker build -f deploy/probe.Dockerfile -t faultline-probe .
# One report to stdout from the host's point of view:
#   docker run --rm --network host --pid host --cap-drop ALL --cap-add NET_ADMIN \
#     --cap-add NET_RAW --cap-add DAC_READ_SEARCH --cap-add SYS_PTRACE \
#     --cap-add SYS_ADMIN faultline-probe collect --for 5
# The build step is deploy/build.sh; CI runs the same script outside a
# container (scripts/check-deploy), since CI machines have no Docker engine.

FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    deploy/build.sh probe /out release

FROM docker.io/library/debian:bookworm-slim
# The tools some collectors run: `ip` (interfaces, pmtu), iptables-save and
# nft (nat_rules), conntrack (conntrack -S where /proc has no stats), and
# the CA certificates an https server is checked against. Versions follow
# the bookworm base image, which takes its security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       ca-certificates conntrack iproute2 iptables nftables \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/local/bin/faultline-probe /usr/local/bin/faultline-probe
# It runs as the base image's root on purpose, with every capability but
# the five the collectors use dropped where it runs (deploy/kubernetes/
# probe.yaml): a non-root process loses its capabilities when it runs
# iptables-save, nft or conntrack, and Kubernetes has no ambient
# capabilities to hand them on.
ENTRYPOINT ["faultline-probe"]
CMD ["run", "--config", "/etc/faultline-probe/probe.toml"]
