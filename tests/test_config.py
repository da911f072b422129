from pathlib import Path

import pytest

from voicebot.config import ConfigError, Settings, load_settings, worker_count, worker_threads

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_shipped_config_documents_exactly_the_defaults():
    assert load_settings(ROOT / "config.toml", {}) == Settings()


def test_contract_keys_are_read_from_the_file(tmp_path):
    settings = load_settings(write(tmp_path, """
[telegram]
api_url = "http://127.0.0.1:8081"
[database]
url = "sqlite:///x.db"
[whisper]
model = "/models/base"
workers = 2
cpu_threads = 1
beam_size = 1
language = "de"
[queue]
max_pending = 7
[quota]
daily_seconds = 100
[limits]
rate_limit_seconds = 0
max_duration_seconds = 60
max_file_mb = 50
"""), {})
    assert settings.telegram.api_url == "http://127.0.0.1:8081"
    assert (settings.whisper.workers, settings.whisper.language, settings.queue.max_pending) == (2, "de", 7)
    assert (settings.limits.rate_limit_seconds, settings.limits.max_file_mb) == (0, 50)


def test_environment_overrides_every_key_and_the_token_has_its_own_name(tmp_path):
    settings = load_settings(write(tmp_path, "[whisper]\nworkers = 2\n"), {
        "VOICEBOT_WHISPER_WORKERS": "1", "VOICEBOT_DATABASE_URL": "postgresql://db/x",
        "TELEGRAM_BOT_TOKEN": "123:abc"})
    assert settings.whisper.workers == 1 and settings.database.url == "postgresql://db/x"
    assert settings.telegram.token == "123:abc"
    assert "123:abc" not in repr(settings)


@pytest.mark.parametrize("text, message", [
    ("[whisper]\nworkerz = 2\n", "unknown config key whisper.workerz"),
    ("[whisperer]\n", "unknown config section [whisperer]"),
    ("[whisper]\nworkers = \"three\"\n", "config key whisper.workers must be a whole number"),
    ("[whisper]\nworkers = true\n", "config key whisper.workers must be a whole number"),
    ("[whisper]\nworkers = -1\n", "config key whisper.workers must not be negative"),
    ("[whisper]\nbeam_size = 0\n", "config key whisper.beam_size must be at least 1"),
    ("[telegram]\napi_url = 5\n", "config key telegram.api_url must be a string"),
    ("[queue\n", "is not valid TOML"),
])
def test_mistakes_are_refused_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_settings(write(tmp_path, text), {})


def test_a_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="VOICEBOT_QUEUE_MAX_PENDING must be a whole number"):
        load_settings(None, {"VOICEBOT_QUEUE_MAX_PENDING": "lots"})


def test_workers_follow_the_cores_up_to_three_unless_set(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert (worker_count(Settings()), worker_threads(Settings())) == (2, 1)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert (worker_count(Settings()), worker_threads(Settings())) == (3, 5)
    pinned = load_settings(None, {"VOICEBOT_WHISPER_WORKERS": "1", "VOICEBOT_WHISPER_CPU_THREADS": "2"})
    assert (worker_count(pinned), worker_threads(pinned)) == (1, 2)
