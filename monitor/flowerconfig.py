"""Flower's settings. supervisord's `[program:flower]` passes `--conf=monitor/flowerconfig.py`.

Flower runs this file as Python and takes each name that is one of its options
(`celery flower --help`; Flower docs, "Configuration"); options on the command
line win over this file. Everything that depends on the environment is here,
so that supervisord.conf holds no secret and no URL.
"""

import os

# A user name and password, "user:password" (several: comma-separated), from
# FLOWER_BASIC_AUTH, Flower's own variable: `make run` sets it (a password of
# its own making, in .run/flower-password), and compose from your .env.
# Without it Flower would serve its UI and its API, which can shut workers down,
# to anyone: refuse to start instead.
basic_auth = os.environ.get("FLOWER_BASIC_AUTH", "").split(",")
if not all(user and password for user, _, password in (entry.partition(":") for entry in basic_auth)):
    raise SystemExit("Flower: FLOWER_BASIC_AUTH must be user:password, with neither empty; not starting without it")

# RabbitMQ's management API, where the Broker page reads each queue's length:
# the one that the web app's panel reads (app/status.py). No user or password
# in this URL: Flower then logs in with the broker URL's (flower/utils/broker.py).
broker_api = os.environ.get("RABBITMQ_MANAGEMENT_URL", "http://localhost:15672") + "/api/"

# Watch, do not act: Flower's API and buttons could also shut a worker down,
# resize its pool, revoke tasks or send new ones. In this demo supervisord starts
# and stops the programs (`supervisorctl`), and the page sends the tasks; Flower
# only shows what happens (403 to every such request).
read_only = True

# Flower asks the workers every few seconds to turn their task events on
# (`celery control enable_events`). Not needed, and not wanted: the worker turns
# them on itself (worker_send_task_events), and a setting you can read in
# worker/celery_app.py beats a remote command you cannot see.
enable_events = False

# Keep the task list in memory only (Flower's default): a restarted Flower
# starts empty. The tasks' states are safe in Redis, the result backend, anyway;
# --persistent would write a database file (flower.db), and in the image only
# .run/ is writable.
persistent = False
