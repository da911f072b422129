import re
from pathlib import Path

import pytest

from voicebot.app.config import ConfigError, Settings, load_settings, worker_count, worker_threads

ROOT = Path(__file__).resolve().parents[2]


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
local_mode = true
local_files_map = "/var/lib/telegram-bot-api=/mnt/bot-api"
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
    assert settings.telegram.local_mode
    assert settings.telegram.local_files_map == "/var/lib/telegram-bot-api=/mnt/bot-api"


@pytest.mark.parametrize(("telegram", "limits", "says"), [
    ("", "max_file_mb = 21", "Telegram's Bot API serves files of at most 20 MB"),
    ("local_mode = true", "max_file_mb = 2001", "at most 2000"),
    ('local_files_map = "/a=/b"', "", "telegram.local_mode is not"),
    ('local_mode = true\nlocal_files_map = "relative=/b"', "", "two absolute paths"),
])
def test_file_limits_and_local_mode_are_checked_at_start(tmp_path, telegram, limits, says):
    with pytest.raises(ConfigError, match=says):
        load_settings(write(tmp_path, f"[telegram]\n{telegram}\n[limits]\n{limits}\n"), {})


def test_environment_overrides_every_key_and_the_token_has_its_own_name(tmp_path):
    settings = load_settings(write(tmp_path, "[whisper]\nworkers = 2\n"), {
        "VOICEBOT_WHISPER_WORKERS": "1", "VOICEBOT_DATABASE_URL": "postgresql://db/x",
        "TELEGRAM_BOT_TOKEN": "123:abc"})
    assert settings.whisper.workers == 1 and settings.database.url == "postgresql://db/x"
    assert settings.telegram.token == "123:abc"
    assert "123:abc" not in repr(settings)


def test_answers_from_memory_are_free_unless_the_operator_charges_them():
    assert load_settings(None, {}).quota.charge_repeats is False
    assert load_settings(None, {"VOICEBOT_QUOTA_CHARGE_REPEATS": "true"}).quota.charge_repeats is True


@pytest.mark.parametrize("text, message", [
    ("[quota]\ncharge_repeats = 1\n", "config key quota.charge_repeats must be true or false"),
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


WEBHOOK = """[telegram]
mode = "webhook"
webhook_url = "https://bot.example.com/tg"
webhook_listen = "127.0.0.1:8443"
"""
WEBHOOK_SECRET = "s3cret_-Value"


def test_webhook_mode_reads_its_keys_and_the_secret_from_the_environment(tmp_path):
    settings = load_settings(write(tmp_path, WEBHOOK), {"VOICEBOT_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                                                        "TELEGRAM_BOT_TOKEN": "123:abcDEF"})
    telegram = settings.telegram
    assert (telegram.mode, telegram.webhook_url, telegram.webhook_listen) == (
        "webhook", "https://bot.example.com/tg", "127.0.0.1:8443")
    assert telegram.webhook_secret == WEBHOOK_SECRET and WEBHOOK_SECRET not in repr(settings)


@pytest.mark.parametrize("text, environ, message", [
    ('[telegram]\nmode = "hook"\n', {}, 'telegram.mode must be "polling" or "webhook", got \'hook\''),
    ('[telegram]\nmode = "webhook"\n', {},
     "needs telegram.webhook_url, telegram.webhook_listen, telegram.webhook_secret: set them"),
    (WEBHOOK, {}, 'needs telegram.webhook_secret: set it'),
    (WEBHOOK.replace("https://bot.example.com/tg", "bot.example.com/tg"), {"VOICEBOT_TELEGRAM_WEBHOOK_SECRET": "s"},
     "telegram.webhook_url must be the public URL Telegram posts updates to"),
    (WEBHOOK.replace("/tg", "/bot123:abcDEF"), {"VOICEBOT_TELEGRAM_WEBHOOK_SECRET": "s"},
     "telegram.webhook_url must not contain the bot token"),
    (WEBHOOK.replace("/tg", "/abc%44EF"), {"VOICEBOT_TELEGRAM_WEBHOOK_SECRET": "s"},
     "telegram.webhook_url must not contain the bot token"),
    (WEBHOOK.replace("127.0.0.1:8443", "8443"), {"VOICEBOT_TELEGRAM_WEBHOOK_SECRET": "s"},
     'telegram.webhook_listen must be HOST:PORT like "127.0.0.1:8443", got \'8443\''),
    (WEBHOOK, {"VOICEBOT_TELEGRAM_WEBHOOK_SECRET": "has spaces"},
     "telegram.webhook_secret must be 1 to 256 characters from A-Z, a-z, 0-9, _ and -"),
    (WEBHOOK, {"VOICEBOT_TELEGRAM_WEBHOOK_SECRET": "x" * 257}, "telegram.webhook_secret must be 1 to 256"),
])
def test_webhook_mistakes_stop_the_bot_with_one_line_that_repeats_no_secret(tmp_path, text, environ, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        load_settings(write(tmp_path, text), {"TELEGRAM_BOT_TOKEN": "123:abcDEF", **environ})
    assert "\n" not in str(refused.value)
    assert "abcDEF" not in str(refused.value) and "has spaces" not in str(refused.value)


def test_a_secret_of_the_wrong_type_is_not_repeated(tmp_path):
    with pytest.raises(ConfigError, match="webhook_secret must be a string, got a value of type int") as refused:
        load_settings(write(tmp_path, "[telegram]\nwebhook_secret = 987654321\n"), {})
    assert "987654321" not in str(refused.value)


def test_workers_follow_the_cores_up_to_three_unless_set(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert (worker_count(Settings()), worker_threads(Settings())) == (2, 1)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert (worker_count(Settings()), worker_threads(Settings())) == (3, 5)
    pinned = load_settings(None, {"VOICEBOT_WHISPER_WORKERS": "1", "VOICEBOT_WHISPER_CPU_THREADS": "2"})
    assert (worker_count(pinned), worker_threads(pinned)) == (1, 2)


def test_a_broker_needs_a_known_scheme_and_postgresql(tmp_path):
    settings = load_settings(write(tmp_path, '[broker]\nurl = "amqp://guest:guest@127.0.0.1:5672/"\n'), {
        "VOICEBOT_DATABASE_URL": "postgresql://postgres@127.0.0.1/voicebot"})
    assert settings.broker.url.startswith("amqp://") and "guest" not in repr(settings)
    with pytest.raises(ConfigError, match="must start with amqp:// .* or redis://"):
        load_settings(write(tmp_path, '[broker]\nurl = "kafka://127.0.0.1"\n'), {})
    with pytest.raises(ConfigError, match="database.url must be PostgreSQL.*SQLite works only on one host"):
        load_settings(write(tmp_path, '[broker]\nurl = "redis://127.0.0.1:6379/0"\n'), {})


def test_the_token_may_come_from_a_secret_file_and_a_missing_one_is_one_line(tmp_path):
    secret = tmp_path / "telegram_bot_token"
    secret.write_text("123:fromfile\n")
    assert load_settings(None, {"TELEGRAM_BOT_TOKEN_FILE": str(secret)}).telegram.token == "123:fromfile"
    # The variable wins over the file, as it does over the config's key.
    both = {"TELEGRAM_BOT_TOKEN_FILE": str(secret), "TELEGRAM_BOT_TOKEN": "123:fromvariable"}
    assert load_settings(None, both).telegram.token == "123:fromvariable"
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"TELEGRAM_BOT_TOKEN_FILE": str(tmp_path / "absent")})
    assert "cannot be read" in str(refused.value) and "\n" not in str(refused.value)
