"""The container tests' own set-up, without Docker: the copy of the working tree, the `.env`
made from `.env.example`, and the images the project pins (tests/support/compose.py,
tests/support/docker_ready.py)."""

import re
from pathlib import Path

import pytest

from tests.support.checkout import REPOSITORY, working_tree_files
from tests.support.compose import PORT_VARIABLES, dot_env, free_ports, read_dot_env
from tests.support.docker_ready import pinned_images


def test_the_copy_holds_what_a_clone_holds_and_nothing_git_ignores() -> None:
    files = {str(path) for path in working_tree_files()}
    assert {"Dockerfile", "docker-compose.yml", ".env.example", "worker/tasks.py"} <= files
    assert not [name for name in files if re.match(r"(\.venv|\.run|measured|test-artifacts|\.git)/", name)]
    assert ".env" not in files


def test_dot_env_fills_in_the_passwords_and_the_ports(tmp_path: Path) -> None:
    ports = free_ports()
    assert sorted(ports) == sorted(PORT_VARIABLES) and len(set(ports.values())) == len(ports)
    (tmp_path / ".env").write_text(dot_env((REPOSITORY / ".env.example").read_text(), ports))
    env = read_dot_env(tmp_path / ".env")
    assert re.fullmatch(r"[\w-]{16,}", env["RABBITMQ_DEFAULT_PASS"])
    assert re.fullmatch(r"flower:[\w-]{16,}", env["FLOWER_BASIC_AUTH"])
    assert re.fullmatch(r"[0-9a-f]{64}", env["RABBITMQ_ERLANG_COOKIE"])
    assert {variable: int(env[variable]) for variable in PORT_VARIABLES} == ports


def test_dot_env_refuses_an_example_without_the_empty_password_lines() -> None:
    with pytest.raises(ValueError, match="RABBITMQ_DEFAULT_PASS"):
        dot_env("RABBITMQ_DEFAULT_USER=hello\n", {})


def test_the_pinned_images_are_those_of_the_dockerfile_and_the_compose_file() -> None:
    # Python from the Dockerfile's FROM, RabbitMQ and Redis from the compose file; not
    # hello-queue, which the build makes. Each at an exact release (digits in its tag).
    # One RabbitMQ: the cluster overlay's nodes run the compose file's image.
    images = pinned_images()
    assert [image.split(":")[0] for image in images] == ["python", "rabbitmq", "redis"]
    assert all(re.match(r"\d+\.\d+\.\d+", image.split(":")[1]) for image in images), images
