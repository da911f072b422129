"""The operator commands, run through `voicebot.app.cli.main` on SQLite and PostgreSQL."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from voicebot.adapters.storage import Storage
from voicebot.app.cli import main
from voicebot.core.domain import Transcript, UserSettings, UserState

from helpers import make_job

pytest_plugins = ["databases"]

ZONE = "Pacific/Kiritimati"  # UTC+14: "today" is the operator's day, not UTC's


@pytest.fixture
def config(db_url, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n\n'
                    f'[quota]\ndaily_seconds = 600\ntimezone = "{ZONE}"\nunlimited_user_ids = [99]\n')
    return path


def today():
    return datetime.now(ZoneInfo(ZONE)).date()


def voicebot(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def record(storage, user_id, message_id, days_ago, status="done", seconds=0.0, processing=0.0):
    transcript = Transcript("some words", "en", 0.9, seconds, processing) if status == "done" else None
    storage.record_usage(make_job(user_id=user_id, message_id=message_id), today() - timedelta(days=days_ago),
                         status, seconds, transcript)


def test_db_migrate_reports_what_it_applied_then_that_nothing_was_left(config, capsys):
    assert voicebot(capsys, "--config", str(config), "db", "migrate") == (0, (
        "applied migration 1 initial schema\n"
        "applied migration 2 user language and billing kept on forget\n"
        "applied migration 3 timestamps and group modes\n"
        "applied migration 4 durable intake\n"
        "applied migration 5 broker deliveries\n"
        "applied migration 6 attempts counted once\n"
        "applied migration 7 interface languages\n"
        "applied migration 8 leadership\n"
        "applied migration 9 forum topics\n"
        "applied migration 10 segments translation and vocabularies\n"
        "applied migration 11 senders of recordings\n"
        "applied migration 12 answers from memory\n"
        "applied migration 13 guest mode\n"
        "applied migration 14 channels\n"
        "applied migration 15 business chats\n"
        "applied migration 16 stars billing\n"
        "applied migration 17 api keys\n"
        "database is now at version 17\n"), "")
    assert voicebot(capsys, "db", "migrate", "--config", str(config)) == (
        0, "database is up to date (version 17)\n", "")


def test_users_show_describes_settings_today_and_totals(config, storage, capsys):
    record(storage, 5, 1, days_ago=2, seconds=100.0)
    record(storage, 5, 2, days_ago=0, seconds=30.5)
    record(storage, 5, 3, days_ago=0, status="timeout")
    storage.set_daily_seconds(5, 900)
    storage.set_language(5, "de")
    first_seen = storage.user_summary(5, today()).first_seen
    storage.close()

    code, out, err = voicebot(capsys, "--config", str(config), "users", "show", "5")
    assert (code, err) == (0, "")
    assert out == (f"user 5\n"
                   f"  first seen          {first_seen:%Y-%m-%d %H:%M} UTC\n"
                   f"  daily limit         900 s a day (set for this user)\n"
                   f"  language            de\n"
                   f"  today ({today()})  30.5 s used, 869.5 s left\n"
                   f"  in total            2 transcriptions, 1 failure, 130.5 s charged\n")


def test_users_show_of_an_unlimited_user_and_the_default_limit(config, storage, capsys):
    record(storage, 99, 1, days_ago=0, seconds=700.0)
    record(storage, 6, 2, days_ago=0, seconds=650.0)
    storage.close()
    out = voicebot(capsys, "--config", str(config), "users", "show", "99")[1]
    assert "daily limit         unlimited (quota.unlimited_user_ids)\n" in out
    assert f"today ({today()})  700.0 s used\n" in out
    out = voicebot(capsys, "--config", str(config), "users", "show", "6")[1]
    assert "daily limit         600 s a day (default)\n" in out
    assert f"today ({today()})  650.0 s used, 0.0 s left\n" in out


def test_users_show_of_an_unknown_user_is_one_line_on_stderr(config, capsys):
    assert voicebot(capsys, "--config", str(config), "users", "show", "12345") == (
        1, "", "voicebot: user 12345 is not in the database\n")


def test_users_grant_and_set_quota_change_the_settings_the_bot_loads(config, db_url, capsys):
    run = ("--config", str(config), "users")
    assert voicebot(capsys, *run, "grant", "7", "--unlimited") == (0, "user 7 has no daily limit now\n", "")
    assert voicebot(capsys, *run, "set-quota", "8", "900") == (0, "user 8 has a daily limit of 900 s\n", "")
    assert _loaded(db_url) == {7: UserState(7, UserSettings(unlimited=True)),
                               8: UserState(8, UserSettings(daily_seconds=900))}

    assert voicebot(capsys, *run, "grant", "7", "--revoke") == (0, "user 7 has a daily limit again\n", "")
    assert voicebot(capsys, *run, "set-quota", "8", "default") == (
        0, "user 8 has the default daily limit again (600 s)\n", "")
    assert _loaded(db_url) == {}

    code, out, _ = voicebot(capsys, *run, "grant", "99", "--revoke")
    assert code == 0 and "quota.unlimited_user_ids in the configuration still lifts the limit" in out


def _loaded(db_url) -> dict[int, UserState]:
    storage = Storage(db_url)
    storage.open()
    users = storage.load_users(today())
    storage.close()
    return users


def test_stats_prints_a_table_of_the_last_days_with_totals(config, storage, capsys):
    record(storage, 1, 1, days_ago=2, seconds=10.0, processing=1.0)
    record(storage, 2, 2, days_ago=2, seconds=20.0, processing=2.0)
    record(storage, 2, 3, days_ago=2, status="no_speech")
    record(storage, 1, 4, days_ago=0, seconds=30.0, processing=6.0)
    record(storage, 3, 5, days_ago=0, status="busy")
    record(storage, 1, 6, days_ago=5, seconds=99.0, processing=9.0)  # before the period
    storage.close()
    days = [today() - timedelta(days=n) for n in (2, 1, 0)]

    code, out, err = voicebot(capsys, "--config", str(config), "stats", "--days", "3")
    assert (code, err) == (0, "")
    assert out == (
        f"usage from {days[0]} to {days[2]} ({ZONE})\n"
        f"day         users  transcriptions  audio seconds  failures  avg processing\n"
        f"{days[0]}      2               2           30.0         1           1.5 s\n"
        f"{days[1]}      0               0            0.0         0               -\n"
        f"{days[2]}      2               1           30.0         0           6.0 s\n"
        f"total                           3           60.0         1           3.0 s\n")


def test_db_prune_deletes_old_transcripts(config, storage, capsys):
    for message_id, days_ago in enumerate((40, 31, 30, 1)):
        record(storage, 1, message_id, days_ago=days_ago, seconds=5.0)
    storage.close()
    before = today() - timedelta(days=30)
    assert voicebot(capsys, "--config", str(config), "db", "prune", "--older-than", "30") == (
        0, f"deleted 2 transcripts from before {before}\n", "")
    assert voicebot(capsys, "--config", str(config), "db", "prune", "--older-than", "30") == (
        0, f"deleted 0 transcripts from before {before}\n", "")


@pytest.mark.parametrize("url", ["postgresql://voicebot:secret@127.0.0.1:9/voicebot",
                                 "sqlite:///{blocked}/bot.db"])
def test_an_unreachable_database_is_one_line_on_stderr(tmp_path, capsys, url):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url.format(blocked=blocked)}"\n')
    for command in (["db", "migrate"], ["users", "show", "1"], ["stats"]):
        code, out, err = voicebot(capsys, "--config", str(config), *command)
        assert (code, out) == (1, "")
        assert err.startswith("voicebot: cannot open database.url ") and err.count("\n") == 1
        assert "secret" not in err and "Traceback" not in err
