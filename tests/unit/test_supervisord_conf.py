"""supervisord.conf's promises, read with the same INI parser family supervisor uses."""

import configparser
import re
import shlex
from pathlib import Path

import pytest

from scripts import healthcheck

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "supervisord.conf"


@pytest.fixture(scope="module")
def conf() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))  # Raw: %(ENV_X)s stays as written
    parser.read(CONF)
    return parser


def test_supervisord_stays_in_the_foreground(conf: configparser.RawConfigParser) -> None:
    assert conf.getboolean("supervisord", "nodaemon")


def test_control_is_a_private_unix_socket_only(conf: configparser.RawConfigParser) -> None:
    assert conf.get("unix_http_server", "chmod") == "0700"
    # The socket belongs to whoever runs supervisord (USER 10001 in the image): no chown to another.
    assert not conf.has_option("unix_http_server", "chown")
    assert not conf.has_section("inet_http_server")
    assert conf.get("supervisorctl", "serverurl") == "unix://" + conf.get("unix_http_server", "file")


def test_supervisord_runs_as_whoever_starts_it(conf: configparser.RawConfigParser) -> None:
    # `user=` makes supervisord switch to that user, which only root may do: the
    # image would have to start it as root. It starts as the Dockerfile's USER.
    assert not conf.has_option("supervisord", "user")


def test_the_healthcheck_asks_the_socket_supervisord_listens_on(conf: configparser.RawConfigParser) -> None:
    assert str(healthcheck.SOCKET) == conf.get("unix_http_server", "file").replace("%(here)s", str(ROOT))


def programs(conf: configparser.RawConfigParser) -> list[str]:
    return [section for section in conf.sections() if section.startswith("program:")]


def test_the_programs_are_the_demos_four(conf: configparser.RawConfigParser) -> None:
    assert programs(conf) == ["program:web", "program:worker_hello", "program:worker", "program:flower"]


def test_every_program_logs_to_supervisords_stdout(conf: configparser.RawConfigParser) -> None:
    for section in programs(conf):
        assert conf.get(section, "stdout_logfile") == "/dev/fd/1", section
        assert conf.get(section, "stdout_logfile_maxbytes") == "0", section
        assert conf.getboolean(section, "redirect_stderr"), section


def test_flower_listens_where_the_page_does_and_takes_its_secrets_from_elsewhere(
    conf: configparser.RawConfigParser,
) -> None:
    command = conf.get("program:flower", "command")
    # WEB_HOST: 127.0.0.1 natively, so that Flower is not on the café's Wi-Fi.
    assert "--address=%(ENV_WEB_HOST)s --port=%(ENV_FLOWER_PORT)s" in command
    # Its password and the management API's URL come from the environment, through
    # monitor/flowerconfig.py: none on this command line, which `ps` shows to every user.
    assert "--conf=monitor/flowerconfig.py" in command
    for option in ("--basic_auth", "--basic-auth", "--broker_api", "--broker-api", "--broker=", "@"):
        assert option not in command


@pytest.mark.parametrize("program", ["worker_hello", "worker"])
def test_every_worker_gets_a_warm_shutdown(conf: configparser.RawConfigParser, program: str) -> None:
    worker = f"program:{program}"
    assert conf.get(worker, "stopsignal") == "TERM"
    assert conf.getint(worker, "stopwaitsecs") > 30, "stopwaitsecs must outlast the longest task (30 s)"
    assert not conf.getboolean(worker, "stopasgroup", fallback=False)
    assert "--queues hello_queue" in conf.get(worker, "command")


def test_the_extra_workers_run_worker_hellos_command_under_names_of_their_own(
    conf: configparser.RawConfigParser,
) -> None:
    hello = shlex.split(conf.get("program:worker_hello", "command"))
    extra = shlex.split(conf.get("program:worker", "command"))
    at = hello.index("--hostname") + 1
    assert extra[:at] + extra[at + 1 :] == hello[:at] + hello[at + 1 :], "the same command but for the node name"
    # One node name per process: worker_2@<host>, worker_3@<host>, ...
    assert extra[at] == "worker_%(process_num)d@%%h"
    assert conf.get("program:worker", "process_name") == "worker_%(process_num)d"
    assert conf.get("program:worker", "numprocs") == "%(ENV_EXTRA_WORKERS)s"
    assert conf.getint("program:worker", "numprocs_start") == 2, "worker_hello is the first"


def test_the_image_and_make_run_set_every_variable_supervisord_conf_reads() -> None:
    settings = [line for line in CONF.read_text().splitlines() if not line.startswith(";")]
    read = set(re.findall(r"%\(ENV_(\w+)\)s", "\n".join(settings)))
    assert "EXTRA_WORKERS" in read
    dockerfile = (ROOT / "Dockerfile").read_text()
    env = re.search(r"^ENV (.*?)\n\n", dockerfile, re.S | re.M)[1]
    assert read <= set(re.findall(r"\b([A-Z_]+)=", env)), "the Dockerfile's ENV misses one"
    makefile = (ROOT / "Makefile").read_text()
    for name in read:
        assert re.search(rf"^export {name} \?=|\b{name}=\$\$", makefile, re.M), f"make run does not set {name}"
