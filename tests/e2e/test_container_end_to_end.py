"""The container image and the compose file, as a self-hoster runs them: the image built from this checkout
with Podman (deploy/container/build), the compose file started with podman-compose against the Bot API sandbox
on this machine (the containers reach it at host.containers.internal), real speech in, the transcript out;
then the cluster profile with PostgreSQL, RabbitMQ and two worker containers, one of them killed mid-job."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import TOKEN, assert_one_transcript, wait_final
from helpers import free_port, send_http

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "deploy" / "container"
COMPOSE = [str(Path(sys.executable).with_name("podman-compose")), "-f", str(ROOT / "deploy" / "compose.yaml")]
PODMAN_ENVIRONMENT = {**os.environ, "CONTAINERS_CONF": str(CONTAINER / "containers.conf")}
IMAGE = "localhost/voicebot:latest"
PROJECT = f"voicebot-e2e-{os.getpid()}"
STARTED = r"job (-?\d+)/(\d+) started on"
WAIT_SECONDS = 240
ADA, BEN = SandboxUser(2101, "Ada"), SandboxUser(2102, "Ben")
# Small and quick on a 2-core machine; everything else is the image's own config.
CONFIG = """
[database]
url = "sqlite:////var/lib/voicebot/voicebot.db"
[metrics]
listen = "0.0.0.0:9464"
[telegram]
poll_timeout_seconds = 1
[whisper]
workers = 1
cpu_threads = 1
beam_size = 1
[limits]
rate_limit_seconds = 0
[shutdown]
grace_seconds = 5
"""


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=PODMAN_ENVIRONMENT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def image():
    """The image, built from this checkout (podman's layer cache makes a second build quick)."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: deploy/container/prepare-host installs it (Debian)")
    if (info := podman("info", timeout=60)).returncode != 0:
        pytest.skip(f"podman cannot run here: {info.stderr.strip().splitlines()[-1:]}")
    started = time.monotonic()
    build = subprocess.run(["bash", str(CONTAINER / "build")], env=PODMAN_ENVIRONMENT, capture_output=True,
                           text=True, timeout=1200)
    assert build.returncode == 0, build.stdout + build.stderr
    print(f"{build.stdout.strip()} in {time.monotonic() - started:.0f} s")
    return IMAGE


@pytest.fixture(scope="module")
def sandbox():
    """On every interface, so that containers reach it through their network's gateway."""
    with BotApiSandbox(TOKEN, host="0.0.0.0") as running:
        yield running


@pytest.fixture
def compose(tmp_path, sandbox, image):
    """Runs podman-compose for a project of this test's own, with the sandbox as Telegram; takes it down (its
    volumes too) at the end."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    token = tmp_path / "telegram_bot_token"
    token.write_text(TOKEN + "\n")
    for path in (config, token):
        path.chmod(0o644)   # the bot runs as its own user in the container, and reads them
    metrics_port = free_port()
    environment = {**PODMAN_ENVIRONMENT, "VOICEBOT_IMAGE": image, "VOICEBOT_CONFIG": str(config),
                   "VOICEBOT_TOKEN_FILE": str(token), "VOICEBOT_METRICS_PORT": str(metrics_port),
                   "VOICEBOT_TELEGRAM_API_URL": f"http://host.containers.internal:{sandbox.url.rsplit(':', 1)[1]}"}

    def run(*args: str, timeout: float = 300) -> str:
        done = subprocess.run([*COMPOSE, "-p", PROJECT, *args], env=environment, capture_output=True, text=True,
                              timeout=timeout, cwd=tmp_path)
        assert done.returncode == 0, f"podman-compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run.metrics = f"http://127.0.0.1:{metrics_port}"
    yield run
    for name in containers():
        print(f"--- {name}\n{logs(name)}")   # shown if the test failed
    subprocess.run([*COMPOSE, "-p", PROJECT, "--profile", "cluster", "down", "-v", "-t", "5"], env=environment,
                   capture_output=True, timeout=300, cwd=tmp_path)
    # podman-compose's down leaves a service's second replica: whatever of the project is left goes too.
    if left := containers():
        podman("rm", "-f", "-v", *left)


def containers(service: str = "") -> list[str]:
    names = podman("ps", "-a", "--filter", f"label=io.podman.compose.project={PROJECT}", "--format",
                   "{{.Names}}").stdout.split()
    return sorted(name for name in names if f"_{service}_" in name) if service else sorted(names)


def logs(name: str) -> str:
    done = podman("logs", name)
    return done.stdout + done.stderr


def wait_healthy(url: str, timeout: float) -> float:
    """Seconds until /healthz answered 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if send_http(f"{url}/healthz", method="GET")[0] == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url}/healthz did not answer 200 within {timeout} s")


def wait_log(name: str, pattern: str, timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(pattern, logs(name)):
            return match
        time.sleep(0.5)
    raise AssertionError(f"{name} logged no line matching {pattern!r}:\n{logs(name)}")


def test_one_machine_the_image_starts_healthy_as_its_own_user_and_answers_a_voice(compose, sandbox, speech):
    started = time.monotonic()
    compose("up", "-d", "bot")
    ready = wait_healthy(compose.metrics, WAIT_SECONDS)
    print(f"from `up -d` to /healthz 200: {time.monotonic() - started:.1f} s ({ready:.1f} s of waiting)")
    [bot] = containers("bot")
    assert podman("exec", bot, "id", "-u").stdout.strip() == "10001"   # not root
    assert podman("healthcheck", "run", bot).returncode == 0           # the image's own HEALTHCHECK
    inspected = json.loads(podman("inspect", bot).stdout)[0]
    assert TOKEN not in json.dumps(inspected["Config"])   # the token is a secret file, not in the environment
    assert TOKEN.split(":")[1] not in logs(bot)

    message_id = sandbox.send_voice(ADA, speech.voice_note, speech.duration)
    wait_final(sandbox, ADA.id, message_id, timeout=WAIT_SECONDS)
    assert_one_transcript(sandbox, ADA, message_id, speech.words)
    # State lives in the volume: a new container of the same service finds the usage it recorded.
    compose("down", "-t", "10")
    compose("up", "-d", "bot")
    wait_healthy(compose.metrics, WAIT_SECONDS)
    usage = sandbox.send_text(ADA, "/usage")
    assert sandbox.wait_for(lambda: any(re.search(r"\b1 (transcription|recording)", m.text or "")
                                        for m in sandbox.messages(ADA.id) if m.reply_to == usage), 60)


def test_cluster_a_worker_container_answers_and_a_killed_one_costs_no_voice(compose, sandbox, speech, tmp_path):
    prepared = subprocess.run(["bash", str(CONTAINER / "prepare-host"), "cluster"], env=PODMAN_ENVIRONMENT,
                              capture_output=True, text=True, timeout=900)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    env_file = tmp_path / "cluster.env"
    env_file.write_text("POSTGRES_PASSWORD=e2e-postgres\nRABBITMQ_PASSWORD=e2e-rabbitmq\nVOICEBOT_WORKER_NODES=2\n"
                        "VOICEBOT_DATABASE_URL=postgresql://voicebot:e2e-postgres@postgres:5432/voicebot\n"
                        "VOICEBOT_BROKER_URL=amqp://voicebot:e2e-rabbitmq@rabbitmq:5672/\n")
    cluster = ("--env-file", str(env_file), "--profile", "cluster")
    compose(*cluster, "up", "-d", "postgres", "rabbitmq")
    [postgres], [rabbitmq] = containers("postgres"), containers("rabbitmq")
    wait_log(postgres, r"ready to accept connections", 120)
    wait_log(rabbitmq, r"Server startup complete|Starting broker\.\.\. completed", 180)
    compose(*cluster, "up", "-d", "bot", "worker")
    wait_healthy(compose.metrics, WAIT_SECONDS)
    workers = containers("worker")
    assert len(workers) == 2
    for worker in workers:
        wait_log(worker, r"is taking jobs", WAIT_SECONDS)

    voices = [(user, sandbox.send_voice(user, speech.voice_note, speech.duration)) for user in (ADA, BEN)]
    # The first job a worker container starts: that container is killed in the middle of it.
    deadline, started = time.monotonic() + WAIT_SECONDS, None
    while started is None and time.monotonic() < deadline:
        started = next(((worker, match) for worker in workers
                        if (match := re.search(STARTED, logs(worker)))), None)
        time.sleep(0.2)
    assert started is not None, "no worker container started a job"
    killed, job = started
    assert podman("kill", killed).returncode == 0
    killed_at = time.monotonic()
    for user, message_id in voices:
        wait_final(sandbox, user.id, message_id, timeout=WAIT_SECONDS)
        assert_one_transcript(sandbox, user, message_id, speech.words)
    [survivor] = [worker for worker in workers if worker != killed]
    assert re.search(rf"job {job.group(1)}/{job.group(2)} started on", logs(survivor))   # it ran again there
    print(f"killed {killed} in the middle of job {job.group(1)}/{job.group(2)}: both voices answered once, "
          f"the last {time.monotonic() - killed_at:.1f} s after the kill")
    [bot] = containers("bot")
    assert "model loaded" not in logs(bot)   # the bot node hands transcription to the workers
