#!/usr/bin/env bash
# DEMO.md's Docker variant of step 3, run for real: in a scratch copy of this
# checkout, with a .env made from .env.example, `docker compose up -d --build`
# until the app container is healthy (timed), supervisorctl status, stop
# worker_hello, POST hellos, see them Ready in hello_queue, start worker_hello,
# see them drain and succeed. Then `docker compose down -v` and the scratch copy
# goes, whatever happened. Images stay, for the next run.
#
#   bash tests/containers/walkthrough.sh          # after engine.sh and build_standins.sh
#   COLD=1 bash tests/containers/walkthrough.sh   # first removes the app image and the build cache
#
# The host ports are other than the demo's defaults, so that it runs beside a
# RabbitMQ, a Redis or a demo of this machine's own (it stops with a message if
# one is taken): WEB_PORT 18000, FLOWER_PORT 18555, RABBITMQ_PORT 18672,
# RABBITMQ_MANAGEMENT_PORT 18673, REDIS_PORT 18379, each overridable from the
# environment. Everything is published on 127.0.0.1 only, as docker-compose.yml
# says; the only traffic is to those ports and inside the containers.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PROJECT=hello-queue-walkthrough
HELLOS="${HELLOS:-5}"
# How long the app container may take to turn healthy: its HEALTHCHECK first
# runs 30 s after the start (--interval=30s), and three tries may fail.
HEALTHY_DEADLINE_SECONDS=180
DRAIN_DEADLINE_SECONDS=60
declare -A PORTS=(
  [WEB_PORT]="${WEB_PORT:-18000}"
  [FLOWER_PORT]="${FLOWER_PORT:-18555}"
  [RABBITMQ_PORT]="${RABBITMQ_PORT:-18672}"
  [RABBITMQ_MANAGEMENT_PORT]="${RABBITMQ_MANAGEMENT_PORT:-18673}"
  [REDIS_PORT]="${REDIS_PORT:-18379}"
)

die() {
  echo "walkthrough.sh: $*" >&2
  exit 1
}
say() { echo "walkthrough.sh: $*" >&2; }

docker info >/dev/null 2>&1 || die "no Docker engine answers: run tests/containers/engine.sh first"
for variable in "${!PORTS[@]}"; do
  port="${PORTS[$variable]}"
  [ -z "$(ss -Hltn "sport = :$port")" ] || die "port $port ($variable) is taken here: set $variable to a free one"
done

scratch="$(mktemp -d /var/tmp/hello-queue-walkthrough.XXXXXX)"
compose() { docker compose --project-directory "$scratch" --project-name "$PROJECT" "$@"; }
cleanup() {
  compose down --volumes --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# The scratch copy: this checkout's files as they are, less what git ignores.
git -C "$ROOT" ls-files -z --cached --others --exclude-standard | tar -C "$ROOT" --null -T - -c | tar -C "$scratch" -x
password() { python3 -c 'import secrets; print(secrets.token_urlsafe(16))'; }
{
  sed -e "s/^RABBITMQ_DEFAULT_PASS=$/RABBITMQ_DEFAULT_PASS=$(password)/" \
    -e "s/^FLOWER_BASIC_AUTH=$/FLOWER_BASIC_AUTH=flower:$(password)/" "$ROOT/.env.example"
  for variable in "${!PORTS[@]}"; do echo "$variable=${PORTS[$variable]}"; done
} >"$scratch/.env"
if ! grep -q '^RABBITMQ_DEFAULT_PASS=.' "$scratch/.env" || ! grep -q '^FLOWER_BASIC_AUTH=flower:.' "$scratch/.env"; then
  die ".env.example has no empty RABBITMQ_DEFAULT_PASS= and FLOWER_BASIC_AUTH= lines to fill in"
fi
web="http://127.0.0.1:${PORTS[WEB_PORT]}"

if [ -n "${COLD:-}" ]; then
  say "cold: removing the image hello-queue and the build cache"
  docker image rm --force hello-queue >/dev/null 2>&1 || true
  docker builder prune --all --force >/dev/null
fi

# 1. Up, timed until the app container's health check passes.
start="$EPOCHREALTIME"
compose up --detach --build --quiet-pull >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log" >&2; die "docker compose up failed"; }
echo "up --build returned (RabbitMQ and Redis healthy, app started): $(python3 -c "print(f'{$EPOCHREALTIME - $start:.1f}')") s"
app="$(compose ps --quiet app)"
deadline=$((SECONDS + HEALTHY_DEADLINE_SECONDS))
until [ "$(docker inspect --format '{{.State.Health.Status}}' "$app")" = healthy ]; do
  [ $SECONDS -lt $deadline ] || { compose logs app | tail -n 30 >&2; die "app not healthy within ${HEALTHY_DEADLINE_SECONDS}s"; }
  sleep 1
done
echo "up --build to healthy: $(python3 -c "print(f'{$EPOCHREALTIME - $start:.1f}')") s"
compose images --format table | sed 's/^/  /'

# 2. DEMO.md's step 3, the Docker variant of each command.
echo "$ docker compose exec app supervisorctl status"
compose exec -T app supervisorctl status
echo "$ docker compose exec app supervisorctl stop worker_hello"
compose exec -T app supervisorctl stop worker_hello

queue() {
  compose exec -T rabbitmq rabbitmqctl list_queues --quiet --no-table-headers \
    name messages_ready messages_unacknowledged consumers | awk '$1 == "hello_queue"'
}
# Polls `queue` until its line is WANT ("ready unacked consumers").
wait_queue() {
  local want="$1" line deadline=$((SECONDS + DRAIN_DEADLINE_SECONDS))
  until line="$(queue)" && [ "$(awk '{print $2, $3, $4}' <<<"$line")" = "$want" ]; do
    [ $SECONDS -lt $deadline ] || die "hello_queue is '$line', not '$want' (ready unacked consumers)"
    sleep 1
  done
  echo "$ docker compose exec rabbitmq rabbitmqctl list_queues name messages_ready messages_unacknowledged consumers"
  echo "$line"
}

task_ids=()
for i in $(seq "$HELLOS"); do
  answer="$(curl -sS --max-time 5 "$web/hello" -H 'Content-Type: application/json' -d "{\"name\": \"Ada $i\", \"duration\": 1}")"
  task_ids+=("$(python3 -c 'import json, sys; print(json.load(sys.stdin)["task_id"])' <<<"$answer")")
done
echo "POST /hello x$HELLOS: $HELLOS task ids"
wait_queue "$HELLOS 0 0"

echo "$ docker compose exec app supervisorctl start worker_hello"
compose exec -T app supervisorctl start worker_hello
start="$EPOCHREALTIME"
wait_queue "0 0 1"
echo "drained in $(python3 -c "print(f'{$EPOCHREALTIME - $start:.1f}')") s"

# Each task's state, as the page reads it; until all have succeeded, or the deadline.
deadline=$((SECONDS + DRAIN_DEADLINE_SECONDS))
while :; do
  succeeded=0
  for id in "${task_ids[@]}"; do
    state="$(curl -sS --max-time 5 "$web/tasks/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')"
    [ "$state" != SUCCESS ] || succeeded=$((succeeded + 1))
  done
  if [ "$succeeded" = "$HELLOS" ] || [ $SECONDS -ge $deadline ]; then
    break
  fi
  sleep 1
done
echo "GET /tasks/<id>: $succeeded of $HELLOS SUCCESS"
[ "$succeeded" = "$HELLOS" ] || die "not every task succeeded"
