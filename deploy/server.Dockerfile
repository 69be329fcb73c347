# syntax=docker/dockerfile:1
# The Faultline server. From the repository root:
#   docker build -f deploy/server.Dockerfile -t faultline .
#   docker run -d -p 8740:8740 -v faultline-data:/data --stop-timeout 40 faultline
# The build step is deploy/build.sh; CI runs the same script outside a
# container (scripts/check-deploy), since CI machines have no Docker engine.

FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    deploy/build.sh server /out release

# glibc and libgcc (all the binary links), CA certificates, no shell, and
# the unprivileged user `nonroot` (65532). Debian 12 like the build stage,
# so the glibc the binary was linked against is there.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/faultline /usr/local/bin/faultline
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Inside a container the server must listen on every interface; SQLite
# lives on the volume.
ENV FAULTLINE_LISTEN=0.0.0.0:8740 \
    FAULTLINE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8740
# `faultline healthcheck` asks /healthz on the address FAULTLINE_LISTEN names
# (distroless has no curl). Liveness only: readiness is /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["faultline", "healthcheck"]
# SIGTERM starts the drain: /readyz fails for drain_delay_s (5 s) while
# requests are still served, then in-flight ones get shutdown_grace_s (20 s).
# Docker's default 10 s stop timeout is too short: use --stop-timeout 40.
STOPSIGNAL SIGTERM
ENTRYPOINT ["faultline"]
CMD ["serve"]
