"""Every timing the tests rely on, in one place, each with where it comes from.

Two kinds of numbers, which must not be confused.

Facts are how long the demo and the services it uses take by design: supervisord's,
RabbitMQ's, Docker's and Celery's settings. A test that waits for one of them waits
for something that is written down somewhere; when the setting changes there, it
changes here, and the deadlines below that derive from it follow.

Deadlines are how long a poll (`tests.support.poll.wait_until`, and the `timeout`
of a request or a subprocess) goes on before it calls a hang a failure. A deadline
is not a pause: a passing test waits only as long as the awaited thing takes, and
the deadline only says when to stop waiting for something that will not come. So
deadlines are generous, many times what the thing takes on an idle machine: tests
run three at a time (pytest-xdist) on machines of two cores. Each is named after
what is awaited, not after the test that awaits it. A few tests wait longer for the
same kind of thing, for a reason given where they do (`2 * SERVICE`, ...).
"""

# --- Facts ---

# supervisord: a program counts as started once it has run this long (startsecs).
# supervisord.conf sets none, so it is supervisor's default, 1 s ("Configuration File":
# [program:x] startsecs). Celery may well not be connected yet when `supervisorctl`
# says "started".
STARTSECS = 1
# supervisord: how long a program has after its stopsignal before SIGKILL (stopwaitsecs).
# web and flower have supervisor's default, 10 s; worker_hello and worker_N set 60 in
# supervisord.conf, longer than the longest task (30 s), for Celery's warm shutdown.
STOPWAITSECS = 10
WORKER_STOPWAITSECS = 60
# Docker: how long `docker compose stop` waits before SIGKILL; docker-compose.yml sets
# stop_grace_period: 75s for the app and the worker, beyond WORKER_STOPWAITSECS.
STOP_GRACE_PERIOD = 75
# RabbitMQ's management API refreshes its figures (Ready, Unacked, connections) every
# collect_statistics_interval, 5 s by default (RabbitMQ docs, "Management Plugin").
# A change may reach the API up to about two intervals late: the queue emits its
# stats, then the collector takes them in.
STATISTICS_INTERVAL = 5
# Celery: a worker sends a heartbeat event every 2 s (Celery docs, "Monitoring and
# Management Guide: Event Reference", worker-heartbeat); Flower learns of workers so.
HEARTBEAT_INTERVAL = 2
# Celery: `celery inspect` waits 1 s for the workers' replies (its --timeout default).
INSPECT_TIMEOUT = 1
# The app gives up on a broker that does not answer in 1 s (app/celery_app.py:
# broker_connection_timeout; redis_socket_timeout, 2 s, for Redis), and on the
# management API in 1 s (app/status.py), so that a request never hangs.
BROKER_CONNECTION_TIMEOUT = 1
# The app answers POST /hello within 3 s, whatever RabbitMQ does: unreachable,
# blocking publishers during a resource alarm, or reading nothing (app/publish.py:
# CONFIRM_TIMEOUT and ATTEMPTS; the contract). A bound the app promises, not
# a speed target.
CLICK_ANSWER = 3
# RabbitMQ: a quorum queue that loses the node of a consumer keeps the messages delivered
# to it, unacked, this long before it gives them to other consumers, since a node it
# cannot reach may only be cut off by the network (consumer_disconnected_timeout, 60000 ms
# by default; RabbitMQ docs, "Quorum Queues": Disconnected Consumer Node Timeout).
CONSUMER_DISCONNECTED_TIMEOUT = 60
# The Dockerfile's HEALTHCHECK: --interval=30s --start-period=30s --retries=3.
HEALTHCHECK_INTERVAL = 30
HEALTHCHECK_START_PERIOD = 30
HEALTHCHECK_RETRIES = 3

# --- Deadlines: one request, connection or probe ---

# One HTTP request to the demo's page or Flower, or one AMQP connection (kombu's
# connect_timeout), or one Redis command: an answer comes in milliseconds.
HTTP = 5
# One request that may do real work before it answers: a call to RabbitMQ's
# management API (creating a vhost), a POST the app may have to retry on a broker
# that dropped its connection, the blocking route's seconds of work.
HTTP_SLOW = 10
# One attempt whose failure only means "not yet" (the page, `celery inspect`'s
# replies): short, since the poll around it tries again.
PROBE = 2
# One TCP connection on this machine (proxy.py): refused or accepted at once.
CONNECT = 1
# Whether RabbitMQ answers at all, before the run (rabbitmq.unreachable_reason).
SERVICE_CHECK = 3

# --- Deadlines: the demo does what it was just asked ---

# A program logs what it was just asked to do: a task's greeting or result line,
# a worker's "ready" after a start.
LOG_LINE = 30
# What follows at once on something already seen: the next line of the same log
# record, the line supervisord prints on a clean stop, the page's next poll.
FOLLOWS = 5
# The immediate consequence of an action reaches the test: a message requeued, a
# FAILURE stored, a dead letter counted, a port that listens, a killed process reaped.
CONSEQUENCE = 10
# One short task (a few seconds of work at most) to succeed, its result in Redis.
TASK = 30
# A pile of waiting tasks to drain (results.wait_for_success's default).
DRAIN = 60
# supervisord reports a program in a state (RUNNING, STOPPED, ...).
PROGRAM_STATE = 30
# `make run` up and answering: every program RUNNING and the page served.
STACK_START = 60
# RabbitMQ or Redis reports a state over its own protocol: consumers attached, a
# queue drained, connections listed, a restarted service answering again.
SERVICE = 30
# The management API shows a change: sampled once, then collected (see
# STATISTICS_INTERVAL), with a third interval of margin.
MANAGEMENT_API = 3 * STATISTICS_INTERVAL
# Flower lists what the worker's events told it (a heartbeat every HEARTBEAT_INTERVAL).
FLOWER = 10

# --- Deadlines: a command to finish ---

# A documented shell command (DEMO.md, TROUBLESHOOTING.md) or supervisorctl.
COMMAND = 90
# A command that answers at once, or refuses: a check script, `make run` giving up.
SHORT_COMMAND = 30
# `make test` making .venv (pip installs the pinned requirements), or
# `docker compose up --build` building an image.
SETUP = 600

# --- Deadlines: tests/containers ---

# One `docker compose` command, pulling nothing (tests/support/compose.py).
DOCKER_COMMAND = 120
# A RabbitMQ container answering its management API and AMQP after `docker run`
# (tests/support/own_rabbitmq.py): about 5 s on an idle machine, most of it the node's
# boot; as tests/containers/native_on_rabbitmq4.sh's READY_DEADLINE_SECONDS.
BROKER_CONTAINER = 120
# Docker's verdict on the app container: the first check at the end of the start
# period, then up to HEALTHCHECK_RETRIES failures HEALTHCHECK_INTERVAL apart, and
# one more interval of margin (150 s).
DOCKER_HEALTHY = HEALTHCHECK_START_PERIOD + (HEALTHCHECK_RETRIES + 1) * HEALTHCHECK_INTERVAL
