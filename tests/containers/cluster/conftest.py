"""Step 10's cluster for every module of this folder: one compose project of
docker-compose.yml and docker-compose.cluster.yml (tests/support/cluster.py), started once
and handed to each test whole (tests/support/cluster_whole.py).

Package scope: down as soon as the last test of this folder is done. pytest collects a
folder's files and subfolders in one alphabetical order, so this folder's tests run before
the other modules of tests/containers/, and the cluster is down before their stack
(`compose_stack`) starts: the two are never up at once. The modules here run in name order
too: test_docker_cluster.py first, which checks what only a fresh cluster shows (every node
formed the cluster at start, each client on the first node of its list), and
test_docker_first_node_lost.py last, after which no test needs the app's clients back on
the first node.
"""

from collections.abc import Iterator

import pytest

from tests.support.cluster import cluster_project
from tests.support.cluster_whole import SharedCluster
from tests.support.compose import ComposeProject


@pytest.fixture(scope="package")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedCluster]:
    """The cluster's compose project, up until the last test of this folder is done; then
    killed and `down -v` (`cluster_project`), also after a failure."""
    with cluster_project(tmp_path_factory.mktemp("cluster")) as project:
        yield SharedCluster(project)


@pytest.fixture
def cluster(shared_cluster: SharedCluster, request: pytest.FixtureRequest) -> Iterator[ComposeProject]:
    """The cluster, whole, for one test; afterwards handed back whole if the test killed a
    node, stopped a worker or failed (`SharedCluster.give_back`), so that the next test
    finds it as `up` left it. Not after the last test that uses it: the cluster goes then.

    Raises:
        AssertionError: the cluster did not get whole again (the message says what was missing).
    """
    project = shared_cluster.take()
    # pytest counts the failed tests of the session as it goes (its call phase is reported
    # before the fixtures' teardown): more than before means this test failed.
    failed_before = request.session.testsfailed
    yield project
    if not last_to_use_it(request):
        shared_cluster.give_back(failed=request.session.testsfailed > failed_before)


def last_to_use_it(request: pytest.FixtureRequest) -> bool:
    """Whether no test of this run after the current one asks for `cluster`."""
    items = request.session.items
    later = items[items.index(request.node) + 1 :]
    return not any("cluster" in getattr(item, "fixturenames", ()) for item in later)
