#!/usr/bin/env bash
# The native test suite (`make test`) once more, against RabbitMQ 4: the image that
# docker-compose.yml pins (a stand-in where no registry answers: build_standins.sh),
# published on ports that Docker picks on 127.0.0.1, beside this machine's own
# RabbitMQ, which stays untouched. RabbitMQ 4 changed what Celery meets (transient
# non-exclusive queues refused, headers not kept in their published order), and a
# learner who runs `docker compose up` meets RabbitMQ 4: the suite must pass on both.
#
#   bash tests/containers/native_on_rabbitmq4.sh     # after engine.sh and build_standins.sh
#
# Left out of this second run: the container tests (they ran in the first, and
# bring their own RabbitMQ 4) and the learner's path from a fresh clone (it
# depends on git and the Makefile, not on the broker's version). Its RELIABILITY.md
# rows go to measured/rabbitmq4/, apart from the first run's.
set -euo pipefail
cd "$(dirname "$0")/../.."

# How long RabbitMQ may take to answer its management API after `docker run`.
READY_DEADLINE_SECONDS=120

image="$(sed -n 's/^ *image: *\(rabbitmq:[^ ]*\).*/\1/p' docker-compose.yml)"
[ -n "$image" ] || { echo "native_on_rabbitmq4.sh: no rabbitmq image in docker-compose.yml" >&2; exit 1; }
name="hello-queue-rabbitmq4-$$"
# The image's own user is guest/guest, let in from other hosts (the official
# image's loopback_users.guest = false), as the suite expects of a local RabbitMQ.
docker run -d --name "$name" -p 127.0.0.1::5672 -p 127.0.0.1::15672 "$image" >/dev/null
trap 'docker rm -f -v "$name" >/dev/null' EXIT
amqp_port="$(docker port "$name" 5672/tcp | head -n 1 | sed 's/.*://')"
management_url="http://127.0.0.1:$(docker port "$name" 15672/tcp | head -n 1 | sed 's/.*://')"

deadline=$((SECONDS + READY_DEADLINE_SECONDS))
until version="$(curl -sf -u guest:guest "$management_url/api/overview" | python3 -c 'import json, sys; print(json.load(sys.stdin)["rabbitmq_version"])' 2>/dev/null)"; do
  if [ $SECONDS -ge $deadline ]; then
    docker logs --tail 20 "$name" >&2
    echo "native_on_rabbitmq4.sh: $image did not answer at $management_url within ${READY_DEADLINE_SECONDS}s" >&2
    exit 1
  fi
  sleep 0.5
done
# The shovel plugins, as .ci/run enables them on this machine's RabbitMQ: case 5 of
# TROUBLESHOOTING.md moves a dead letter back with a shovel.
docker exec "$name" rabbitmq-plugins enable --quiet rabbitmq_shovel rabbitmq_shovel_management >/dev/null
echo "The native suite against $image (RabbitMQ $version), on 127.0.0.1:$amqp_port and $management_url"

RABBITMQ_PORT="$amqp_port" RABBITMQ_MANAGEMENT_URL="$management_url" HELLO_QUEUE_MEASURED=measured/rabbitmq4 \
  PYTEST_ADDOPTS="--ignore=tests/containers --deselect tests/integration/test_learner_path.py::test_clone_to_first_pile_up_and_through_the_history" \
  make test
