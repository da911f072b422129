"""Debian's real Prometheus scraping a running `voicebot run` with deploy/prometheus's config and rules: the jobs
counter arrives, the dashboard's queries run, and a queue past 80 % fires the queue alert."""
import itertools
import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from test_metrics_end_to_end import get  # an HTTP GET that returns the status of a refusal too

from voicebot.sandbox import BotApiSandbox, SandboxUser
from voicebot.sandbox.harness import stop

from botprocess import TOKEN, RunningBot, wait_final, write_config
from helpers import free_port, normalized
from media import audio_file

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("prometheus") is None,
                                 reason="Prometheus is not installed (apt-get install prometheus)")]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ERIN = SandboxUser(802, "Erin")
MAX_PENDING = 5


def prometheus_config(folder: Path, target: str) -> Path:
    """deploy/prometheus/prometheus.yml scraping only the bot at `target`, scraping and evaluating every second,
    with the rules of alerts.yml beside it, each `for:` cut to 2 s."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    del config["alerting"]   # no Alertmanager here: Prometheus's own /api/v1/alerts shows what fires
    config["scrape_configs"] = [{**job, "static_configs": [{"targets": [target]}]}
                                for job in config["scrape_configs"] if job["job_name"] == "voicebot"]
    rules = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    (folder / "alerts.yml").write_text(re.sub(r"(?m)^(\s+for:) \S+$", r"\1 2s", rules))
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def prometheus(config: Path, folder: Path) -> Iterator[str]:
    """`prometheus` on a free port with its data in `folder`; its URL once it is ready."""
    url = f"http://127.0.0.1:{free_port()}"
    log = folder / "prometheus.log"
    with open(log, "w") as file:   # the child has its own copy of the descriptor
        process = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
                                    f"--web.listen-address={url.removeprefix('http://')}"],
                                   stdout=file, stderr=subprocess.STDOUT)
    try:
        assert eventually(lambda: process.poll() is not None or get_status(f"{url}/-/ready") == 200, 60)
        assert process.poll() is None, log.read_text()
        yield url
    finally:
        stop(process, 30, kill=True)


def get_status(url: str) -> int | None:
    try:
        return get(url)[0]
    except OSError:   # not listening yet
        return None


def eventually(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def api(prometheus_url: str, path: str, **parameters) -> dict | list:
    status, body = get(f"{prometheus_url}/api/v1/{path}?{urlencode(parameters)}")
    assert status == 200, body
    return json.loads(body)["data"]


def value(prometheus_url: str, expression: str) -> float | None:
    """The one sample of `expression` now, or None when it has none."""
    result = api(prometheus_url, "query", query=expression)["result"]
    return float(result[0]["value"][1]) if result else None


def firing(prometheus_url: str, alert: str) -> list[dict]:
    return [entry for entry in api(prometheus_url, "alerts")["alerts"]
            if entry["labels"]["alertname"] == alert and entry["state"] == "firing"]


def test_prometheus_scrapes_the_bot_runs_the_dashboard_and_fires_the_queue_alert(tmp_path, speech, speech_file):
    listen = f"127.0.0.1:{free_port()}"
    with BotApiSandbox(TOKEN) as sandbox:
        config = write_config(tmp_path / "config.toml", sandbox, tmp_path / "bot.db", f"""
[queue]
max_pending = {MAX_PENDING}
[metrics]
listen = "{listen}"
""")
        bot = RunningBot(config, tmp_path)
        try:
            with prometheus(prometheus_config(tmp_path, listen), tmp_path) as url:
                voice = sandbox.send_voice(ERIN, speech.voice_note, speech.duration)
                assert speech.words in normalized(wait_final(sandbox, ERIN.id, voice).text)
                done = f'voicebot_jobs_total{{job="voicebot", instance="{listen}", outcome="done"}}'
                assert eventually(lambda: value(url, done) == 1, 30), api(url, "targets")
                assert value(url, "voicebot_queue_capacity") == MAX_PENDING
                assert firing(url, "VoicebotQueueAlmostFull") == []

                dashboard = json.loads((DEPLOY / "grafana" / "voicebot.json").read_text())
                for query in (target["expr"] for panel in dashboard["panels"] for target in panel["targets"]):
                    api(url, "query", query=query.replace("$instance", ".*").replace("$__rate_interval", "1m"))

                # A new caller every half second (each a first recording: no rate limit, no quota in the way)
                # keeps the queue full however fast the workers are; past max_pending they hear "busy".
                source, _, seconds = speech_file
                repeat = math.ceil(20 / seconds)
                recording = audio_file(source, "ogg", tmp_path, repeat=repeat)
                callers = (SandboxUser(810 + n, f"Caller {n}") for n in itertools.count())

                def one_more_caller_and_firing() -> bool:
                    sandbox.send_voice(next(callers), recording, seconds * repeat)
                    return bool(firing(url, "VoicebotQueueAlmostFull"))
                assert eventually(one_more_caller_and_firing, 60), api(url, "alerts")
                alert = firing(url, "VoicebotQueueAlmostFull")[0]
                assert (alert["labels"]["job"], alert["labels"]["instance"]) == ("voicebot", listen)
                assert float(alert["value"]) >= 0.8
        finally:
            returncode, stderr = bot.stop()
        assert returncode == 0, stderr
