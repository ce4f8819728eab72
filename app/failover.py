"""Connecting to RabbitMQ for one request, when CELERY_BROKER_URL lists every node of a cluster.

A `;`-separated CELERY_BROKER_URL is one broker with alternates (Celery docs,
broker_url: failover). kombu's Connection connects to the first URL; each failure
switches it to the next one of broker_failover_strategy, round-robin by default
(kombu's `failover_strategies`), so that every node comes once per round.
`ensure_connection(max_retries=N)` makes N + 1 attempts, with no pause between two
nodes of one round, a pause only after a whole round failed (kombu's
`Connection._ensure_connection`). So N = one less than the URLs tries each node
once: a request is not refused while one node answers, and waits at most
broker_connection_timeout for each node that neither answers nor refuses. A node
whose container is gone costs next to nothing: its name no longer resolves.
With one URL, N = 0: one attempt, as before.
"""

from kombu import Connection


def connect(connection: Connection) -> None:
    """Connect `connection`, unless it is connected already, trying each of its URLs once.

    Args:
        connection: a kombu Connection, e.g. from the producer's pool; its `alt` holds the
            URLs of a `;`-separated broker URL, and is empty for a single URL.

    Raises:
        kombu.exceptions.OperationalError: no URL answered (each within
            broker_connection_timeout seconds).
    """
    connection.ensure_connection(max_retries=max(len(connection.alt), 1) - 1)
