#!/usr/bin/env bash
# Local stand-ins for the images that the project's Dockerfile and
# docker-compose.yml pull (python, rabbitmq, redis), where no image registry
# can be reached: each is Debian's packages of that software, on a Debian root
# file system that debootstrap makes and `docker import` turns into a base
# image, with a small Dockerfile of tests/containers/standins/ on top. Each is
# tagged with the very name that the project's files use, read from them, so
# that `docker compose up --build` finds it already there and pulls nothing.
#
#   bash tests/containers/engine.sh && bash tests/containers/build_standins.sh
#
# An image whose tag exists is not built again, unless its folder under
# standins/ changed since (a label holds the folder's checksum): a fresh clone
# on a machine that built the stand-ins before gets the stand-ins it describes.
# The base images (hello-queue-standin-base:SUITE) are shared, built once. At
# the end, one line per stand-in: the tag, and the upstream version that it
# really carries (Debian may lack the tag's exact release). As root.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BASE_REPO=hello-queue-standin-base
# Every stand-in carries this label: a tag without it is someone else's image.
LABEL=org.hello-queue.standin
# debootstrap's mirror: its own default unless DEBIAN_MIRROR says otherwise.
DEBIAN_MIRROR="${DEBIAN_MIRROR:-}"

die() {
  echo "build_standins.sh: $*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || die "run me as root (debootstrap)"
docker info >/dev/null 2>&1 || die "no Docker engine answers: run tests/containers/engine.sh first"
command -v debootstrap >/dev/null || die "no debootstrap: run tests/containers/engine.sh first"

# The tags, as the project's files spell them (PYTHON_TAG, RABBITMQ_TAG and
# REDIS_TAG override them, to build the stand-ins for other pins).
python_tag="${PYTHON_TAG:-$(sed -n 's/^FROM \(python:[^ ]*\).*/\1/p' "$ROOT/Dockerfile")}"
rabbitmq_tag="${RABBITMQ_TAG:-$(sed -n 's/^ *image: \(rabbitmq:[^ ]*\).*/\1/p' "$ROOT/docker-compose.yml")}"
redis_tag="${REDIS_TAG:-$(sed -n 's/^ *image: \(redis:[^ ]*\).*/\1/p' "$ROOT/docker-compose.yml")}"
# What the stand-ins below carry: a tag of another line would be a lie.
case "$python_tag $rabbitmq_tag $redis_tag" in
  "python:3.13."*"-slim-trixie rabbitmq:4.3."*"-management redis:8."*) ;;
  *) die "the stand-ins carry Python 3.13 (slim, trixie), RabbitMQ 4.3 with management and Redis 8, not: $python_tag $rabbitmq_tag $redis_tag" ;;
esac

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# A minimal Debian SUITE as the image hello-queue-standin-base:SUITE.
base_image() {
  local suite="$1" rootfs
  image_exists "$BASE_REPO:$suite" && return
  rootfs="$(mktemp -d "/var/tmp/hello-queue-standin-$suite.XXXXXX")"
  echo "build_standins.sh: debootstrap $suite" >&2
  # shellcheck disable=SC2086 # an empty DEBIAN_MIRROR is no argument
  debootstrap --variant=minbase "$suite" "$rootfs" $DEBIAN_MIRROR >"$rootfs.log" 2>&1 \
    || { tail -n 20 "$rootfs.log" >&2; die "debootstrap $suite failed (log: $rootfs.log)"; }
  # As Docker's own Debian images: no service starts while a package installs,
  # and no recommended packages come along.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  # Unstable's Release file is valid for a week only, and the mirror reached
  # from here was seen serving one past that date: apt would refuse it.
  cat >"$rootfs/etc/apt/apt.conf.d/90hello-queue-standin" <<'APT'
APT::Install-Recommends "false";
Acquire::Check-Valid-Until "false";
APT
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$BASE_REPO:$suite" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
}

# The stand-in NAME (a folder of standins/) on Debian SUITE, tagged TAG.
standin() {
  local name="$1" suite="$2" tag="$3" context source
  source="$(cd "$HERE/standins/$name" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum)"
  source="${source%% *}"
  if image_exists "$tag"; then
    if [ -z "$(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$tag")" ]; then
      echo "build_standins.sh: $tag exists and is no stand-in (no label $LABEL): left as it is" >&2
      return
    fi
    [ "$(docker image inspect --format "{{index .Config.Labels \"$LABEL.source\"}}" "$tag")" != "$source" ] || return 0
    echo "build_standins.sh: standins/$name changed since $tag was built: building it again" >&2
  fi
  base_image "$suite"
  echo "build_standins.sh: building $tag" >&2
  context="$(mktemp -d)"
  cp -a "$HERE/standins/$name/." "$context/"
  # The python stand-in's pip must trust this machine's certificate authorities.
  [ "$name" != python ] || cp /etc/ssl/certs/ca-certificates.crt "$context/"
  docker build --quiet --build-arg "BASE=$BASE_REPO:$suite" --label "$LABEL=debian-$suite" \
    --label "$LABEL.source=$source" --tag "$tag" "$context" >/dev/null
  rm -rf "$context"
}

# "TAG: stand-in from Debian SUITE's PACKAGE VERSION, upstream UPSTREAM".
carries() {
  local tag="$1" package="$2" version upstream
  version="$(docker run --rm --entrypoint dpkg-query "$tag" -W -f '${Version}' "$package")"
  upstream="${version#*:}"
  upstream="${upstream%-*}"
  echo "$tag: stand-in from $(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$tag")'s $package $version, upstream $upstream"
}

start=$SECONDS
# Python 3.13 is trixie's python3 (unstable's is 3.14); RabbitMQ 4.3 is only in
# unstable, and so unstable's Redis is the nearer to the tag's release too.
standin python trixie "$python_tag"
standin rabbitmq sid "$rabbitmq_tag"
standin redis sid "$redis_tag"
echo "build_standins.sh: done in $((SECONDS - start)) s" >&2
carries "$python_tag" python3.13-minimal
carries "$rabbitmq_tag" rabbitmq-server
carries "$redis_tag" redis-server
