#!/usr/bin/env bash
# Builds one Faultline binary and lays out what its image installs, under
# DEST: the binary in DEST/usr/local/bin and, for the server, the /data
# volume (the Dockerfile hands it to the image's user). The Dockerfiles run
# exactly this, and so does CI (scripts/check-deploy), outside a container,
# on every run.
#
#   deploy/build.sh server|probe DEST [PROFILE]
#
# PROFILE is a cargo profile: `release` (the images) or `dev` (CI, which
# reuses the test build instead of spending minutes on an optimised one).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:?usage: deploy/build.sh server|probe DEST [PROFILE]}
dest=${2:?usage: deploy/build.sh server|probe DEST [PROFILE]}
profile=${3:-release}

case $what in
  server) package=faultline ;;
  probe) package=faultline-probe ;;
  *) echo "deploy/build.sh: build server or probe, not '$what'" >&2; exit 2 ;;
esac

cargo build --locked --profile "$profile" -p "$package" --bin "$package"
case $profile in
  dev) out=debug ;;
  *) out=$profile ;;
esac
target=${CARGO_TARGET_DIR:-target}
install -D -m 0755 "$target/$out/$package" "$dest/usr/local/bin/$package"
# A binary that cannot start (a missing shared library) fails here, not in production.
"$dest/usr/local/bin/$package" --version

if [ "$what" = server ]; then
  install -d -m 0750 "$dest/data"
fi
