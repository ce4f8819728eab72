"""Can the container tests run here? A Docker engine that answers, with Compose v2, and the
images the project pins, already on this machine (the tests pull nothing)."""

import re
import subprocess

from tests.support.checkout import REPOSITORY
from tests.support.timing import SHORT_COMMAND

HOW_TO_GET_THEM = (
    "as root, `bash tests/containers/engine.sh` starts an engine with Compose v2, and "
    "`bash tests/containers/build_standins.sh` builds stand-ins of the pinned images where no registry answers"
)


def pinned_images() -> list[str]:
    """The images the project names: the Dockerfile's FROM and the `image:` lines of
    docker-compose.yml and of its cluster overlay, less the one the build makes (hello-queue,
    or HELLO_QUEUE_IMAGE)."""
    dockerfile = re.findall(r"^FROM\s+(\S+)", (REPOSITORY / "Dockerfile").read_text(), re.M)
    compose = [
        image
        for name in ("docker-compose.yml", "docker-compose.cluster.yml")
        for image in re.findall(r"^\s+image:\s*(\S+)", (REPOSITORY / name).read_text(), re.M)
    ]
    return sorted({image for image in dockerfile + compose if "HELLO_QUEUE_IMAGE" not in image})


def _succeeds(*command: str) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=SHORT_COMMAND).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def missing_reason(images: list[str] | None = None, compose: bool = True) -> str | None:
    """Why the container tests cannot run here, in one line; None when they can.

    Args:
        images: the images they need; by default every pinned one (`pinned_images`).
        compose: whether they need Compose v2 too.
    """
    if not _succeeds("docker", "info"):
        return f"No Docker engine answers (`docker info` failed): {HOW_TO_GET_THEM}."
    if compose and not _succeeds("docker", "compose", "version"):
        return f"Docker has no Compose v2 (`docker compose version` failed): {HOW_TO_GET_THEM}."
    needed = pinned_images() if images is None else images
    missing = [image for image in needed if not _succeeds("docker", "image", "inspect", image)]
    if missing:
        return f"The pinned images {', '.join(missing)} are not on this machine: {HOW_TO_GET_THEM}."
    return None
