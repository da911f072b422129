"""deploy/: the alert rules and the Grafana dashboard name only metrics the bot's /metrics serves, so neither
can drift from the code; and every alert has its promtool test."""
import json
import re
import urllib.request
from pathlib import Path

import pytest
import yaml

from voicebot.adapters.metrics import Metrics, MetricsServer

from helpers import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "voicebot.json"
MADE_BY_PROMETHEUS = {"up"}   # a series Prometheus writes for each scrape, not one the bot serves

# What in a PromQL expression is not a metric name: strings, label matchers, ranges, the labels of by(...)
# and on(...), Grafana's $variables; then names followed by "(" are functions, and these are keywords.
_NOT_NAMES = re.compile(r'"(?:[^"\\]|\\.)*"|\{[^}]*\}|\[[^\]]*\]'
                        r"|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|\$\w+")
_NAME = re.compile(r"\b[A-Za-z_:][\w:]*\b(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan"}


def metric_names(expression: str) -> set[str]:
    return {name for name in _NAME.findall(_NOT_NAMES.sub(" ", expression)) if name.lower() not in _KEYWORDS}


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    # label_values(METRIC, LABEL) is Grafana's, not PromQL: its metric is what counts.
    variables = [re.sub(r"label_values\((\w+),.*", r"\1", variable["definition"])
                 for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    return queries + variables


@pytest.fixture(scope="module")
def served() -> set[str]:
    """The series names on /metrics once every kind of measurement was made: a labelled metric has no
    series before its first use."""
    metrics = Metrics()
    metrics.queue_changed(3, 100)
    metrics.worker_ready("whisper-1", True)
    metrics.job_finished("done")
    metrics.job_refused("quota")
    metrics.model_loaded(1.5)
    metrics.transcribed(10.0, 2.0)
    metrics.polled()
    metrics.webhook_answered(200)
    with metrics.database_operation("StoreIntake"):
        pass
    metrics.bot_api_called("sendMessage", 0.2, "502")
    metrics.actor_restarted("whisper-1")
    metrics.job_answered(4.0, "api")
    metrics.job_waited(1.0, "api")
    metrics.api_request("n8n", "done")
    listen = f"127.0.0.1:{free_port()}"
    server = MetricsServer(metrics, listen, health=lambda: "ok").start()
    try:
        with urllib.request.urlopen(f"http://{listen}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    finally:
        server.stop()
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_the_expression_reader_finds_metrics_and_nothing_else():
    assert metric_names('histogram_quantile(0.95, sum by (le, method) (rate(voicebot_telegram_call_seconds_bucket'
                        '{instance=~"$instance", method!="getUpdates"}[$__rate_interval])))') == {
        "voicebot_telegram_call_seconds_bucket"}
    assert metric_names("a / on (instance) b >= 0.8 * c or d unless d offset 15m") == {"a", "b", "c", "d"}


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_an_alert_names_only_served_metrics(rule, served):
    names = metric_names(rule["expr"])
    assert names, f"no metric found in {rule['expr']!r}"
    assert names - served - MADE_BY_PROMETHEUS == set()


@pytest.mark.parametrize("expression", dashboard_expressions())
def test_a_dashboard_query_names_only_served_metrics(expression, served):
    names = metric_names(expression)
    assert names, f"no metric found in {expression!r}"
    assert names - served == set()


def test_every_alert_has_a_promtool_test():
    tested = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in test["alert_rule_test"]}
    assert tested == {rule["alert"] for rule in rules()}


def pins(lock: Path) -> dict[str, str]:
    """A pip-compile lock's packages and their versions."""
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock.read_text(), re.MULTILINE))


def test_the_image_installs_the_same_versions_the_tests_ran_with():
    """deploy/container/requirements.lock is the runtime half of requirements.lock (plus what Debian's older
    Python 3.11 needs): a package in both has one version, so the image runs what CI tested."""
    image, tested = pins(DEPLOY / "container" / "requirements.lock"), pins(DEPLOY.parent / "requirements.lock")
    assert "faster-whisper" in image and "pytest" not in image
    assert {name: version for name, version in image.items() if tested.get(name, version) != version} == {}


def test_the_compose_prometheus_scrapes_every_node_with_the_project_rules():
    config = yaml.safe_load((DEPLOY / "container" / "prometheus.yml").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    targets = {target.split(":")[0] for job in config["scrape_configs"]
               for target in [*(t for c in job.get("static_configs", ()) for t in c["targets"]),
                              *(n for c in job.get("dns_sd_configs", ()) for n in c["names"])]}
    assert targets == {"bot", "bot-standby", "worker"} <= set(compose["services"])
