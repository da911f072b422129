"""The transcription API's keys: `voicebot api key create|list|revoke` through `voicebot.app.cli.main`, and the
ApiKeyBook the HTTP server asks, on SQLite and PostgreSQL."""
import hashlib

import pytest

from voicebot.adapters.storage import Storage
from voicebot.adapters.storage.api_keys import ApiKeys
from voicebot.adapters.storage.models import ApiKeyRecord
from voicebot.app.cli import main
from voicebot.core.api import api_user_id

pytest_plugins = ["databases"]


@pytest.fixture
def config(db_url, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n\n[quota]\ndaily_seconds = 600\n')
    return path


def voicebot(capsys, config, *args) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def opened(db_url) -> Storage:
    storage = Storage(db_url)
    storage.open()
    return storage


def test_create_prints_the_secret_once_and_stores_only_its_hash(config, db_url, capsys):
    code, secret, err = voicebot(capsys, config, "api", "key", "create", "n8n")

    assert code == 0
    secret = secret.strip()
    assert secret.startswith("vb-") and len(secret) == 43
    assert "created API key n8n" in err and "shown this once" in err
    storage = opened(db_url)
    try:
        [row] = ApiKeyRecord.select()
        assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret[3:] not in repr(row.__data__)
        key = ApiKeys().find(secret)
        assert (key.name, key.user_id) == ("n8n", api_user_id(row.id))
        assert ApiKeys().find(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    finally:
        storage.close()


def test_daily_minutes_sets_the_keys_user_limit_shown_by_list(config, db_url, capsys):
    assert voicebot(capsys, config, "api", "key", "create", "home-assistant", "--daily-minutes", "30")[0] == 0
    assert voicebot(capsys, config, "api", "key", "create", "scripts")[0] == 0

    storage = opened(db_url)
    try:
        [limited, default] = ApiKeys().keys()
        assert storage.user_summary(limited.key.user_id, limited.created_at.date()).daily_seconds == 1800
        assert storage.user_summary(default.key.user_id, default.created_at.date()) is None
    finally:
        storage.close()
    code, out, _ = voicebot(capsys, config, "api", "key", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["name", "user", "id", "created", "(UTC)", "daily", "limit", "used",
                                              "today", "state"]
    assert lines[1].startswith("home-assistant") and "1800 s" in lines[1] and lines[1].endswith("in use")
    assert lines[1].split()[1] == str(limited.key.user_id)
    assert lines[2].startswith("scripts") and "600 s (default)" in lines[2]


def test_revoke_refuses_the_key_from_then_on_and_keeps_its_name(config, db_url, capsys):
    secret = voicebot(capsys, config, "api", "key", "create", "old")[1].strip()

    assert voicebot(capsys, config, "api", "key", "revoke", "old") == (
        0, "revoked API key old: its requests are refused from now on\n", "")
    storage = opened(db_url)
    try:
        assert ApiKeys().find(secret) is None
    finally:
        storage.close()
    assert "revoked" in voicebot(capsys, config, "api", "key", "list")[1].splitlines()[1]
    assert voicebot(capsys, config, "api", "key", "revoke", "old") == (
        1, "", "voicebot: no API key named old is in use: see voicebot api key list\n")
    assert voicebot(capsys, config, "api", "key", "create", "old") == (
        1, "", "voicebot: an API key named old exists already: choose another name\n")


def test_a_name_that_cannot_be_a_metrics_label_is_refused(config, capsys):
    with pytest.raises(SystemExit):
        main(["--config", str(config), "api", "key", "create", "my key"])
    assert "is no key name" in capsys.readouterr().err


def test_list_without_keys_says_how_to_make_one(config, capsys):
    assert voicebot(capsys, config, "api", "key", "list") == (
        0, "no API keys yet: voicebot api key create NAME\n", "")
