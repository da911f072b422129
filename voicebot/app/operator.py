"""Operator commands on the database named by database.url: `voicebot db`, `voicebot users`, `voicebot stats`.

"Today" is the day in quota.timezone, the day the bot counts quotas by. A running bot re-reads user
settings from the database every so often, so changes made here need no restart.
"""
import argparse
import os
import sqlite3
import sys
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from voicebot.adapters.storage import Storage
from voicebot.app.config import Settings
from voicebot.core.domain import DayStats
from voicebot.core.errors import StorageError


def add_commands(commands) -> list[argparse.ArgumentParser]:
    """Adds the operator commands to `voicebot`'s subparsers; returns the parsers that run something."""
    db = commands.add_parser("db", help="database schema, transcript retention and backups")
    db_commands = db.add_subparsers(title="commands", required=True, metavar="COMMAND")
    migrate = db_commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(command=_command(_migrate, migrate=False))
    prune = db_commands.add_parser("prune", help="delete the text of old transcripts; usage counts stay")
    prune.add_argument("--older-than", type=_whole_number(0), required=True, metavar="DAYS",
                       help="delete the transcripts of days before today minus DAYS")
    prune.set_defaults(command=_command(_prune))
    backup = db_commands.add_parser("backup", help="copy a SQLite database, also while the bot runs")
    backup.add_argument("path", type=Path, metavar="PATH", help="the file to write the copy to (a new one)")
    backup.set_defaults(command=_backup)

    users = commands.add_parser("users", help="show or change one user's settings")
    user_commands = users.add_subparsers(title="commands", required=True, metavar="COMMAND")
    show = user_commands.add_parser("show", help="a user's settings, usage today and totals")
    grant = user_commands.add_parser("grant", help="lift a user's daily limit, or put it back")
    set_quota = user_commands.add_parser("set-quota", help="give a user a daily limit of their own")
    for parser, handler in ((show, _show), (grant, _grant), (set_quota, _set_quota)):
        parser.add_argument("user_id", type=int, metavar="ID", help="Telegram user id")
        parser.set_defaults(command=_command(handler))
    flag = grant.add_mutually_exclusive_group(required=True)
    flag.add_argument("--unlimited", action="store_true", help="no daily limit for this user")
    flag.add_argument("--revoke", action="store_true", help="the daily limit applies again")
    set_quota.add_argument("seconds", type=_seconds_or_default, metavar="SECONDS",
                           help='seconds of audio per day, or "default" for quota.daily_seconds')

    stats = commands.add_parser("stats", help="usage per day: users, transcriptions, audio, failures")
    stats.add_argument("--days", type=_whole_number(1), default=7, metavar="N",
                       help="the last N days, today included (default: 7)")
    stats.set_defaults(command=_command(_stats))
    return [migrate, prune, backup, show, grant, set_quota, stats]


def _command(handler, migrate: bool = True):
    """Runs `handler(storage, settings, args)` on an open Storage; a failure is one line on stderr, exit 1."""
    def run(settings: Settings, args) -> int:
        storage = Storage(settings.database.url, settings.storage.keep_transcripts)
        try:
            storage.open(migrate=migrate)
            try:
                return handler(storage, settings, args)
            finally:
                storage.close()
        except StorageError as error:
            return _fail(str(error))
    return run


def _migrate(storage: Storage, settings: Settings, args) -> int:
    applied = storage.migrate()
    for name in applied:
        print(f"applied migration {name}")
    version = storage.schema_version()
    print(f"database is now at version {version}" if applied
          else f"database is up to date (version {version})")
    return 0


def _prune(storage: Storage, settings: Settings, args) -> int:
    before = _today(settings) - timedelta(days=args.older_than)
    cleared = storage.prune(before)
    print(f"deleted {_count(cleared, 'transcript')} from before {before}")
    return 0


def _backup(settings: Settings, args) -> int:
    """SQLite's online backup API copies one snapshot of the database: consistent while the bot writes, and
    in WAL mode the bot's writes go on meanwhile. Not through Storage: a backup opens no schema, migrates nothing."""
    if not settings.database.url.startswith("sqlite"):
        return _fail("database.url is not SQLite: back PostgreSQL up with pg_dump "
                     "(pg_dump --format=custom --file=voicebot.dump DBNAME; pg_restore brings it back)")
    source = Path(urlsplit(settings.database.url).path[1:])   # as peewee reads sqlite:///PATH
    if not source.is_file():
        return _fail(f"no SQLite database at {source}: check database.url (a relative path starts in this folder)")
    if args.path.exists():
        return _fail(f"{args.path} exists already: name a new file (a backup overwrites nothing)")
    partial = args.path.with_name(f"{args.path.name}.partial")   # PATH appears only once it is whole
    try:
        # Made here, new (never one left behind, nor a link planted there) and for the owner's eyes only, as
        # the database is: SQLite then writes into it, and gives its journal the same mode.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        return _fail(f"{partial} exists: another backup to {args.path} runs now or was stopped; "
                     "remove it and try again")
    except OSError as error:
        return _fail(f"backing up {source} to {args.path} failed: {error}")
    try:
        with closing(sqlite3.connect(source)) as database, closing(sqlite3.connect(partial)) as copy:
            database.backup(copy)   # all pages in one step: one snapshot, however busy the bot is
        os.link(partial, args.path)   # unlike a rename, fails if PATH appeared meanwhile
    except FileExistsError:
        return _fail(f"{args.path} exists already: name a new file (a backup overwrites nothing)")
    except (sqlite3.Error, OSError) as error:
        return _fail(f"backing up {source} to {args.path} failed: {error}")
    finally:
        partial.unlink(missing_ok=True)
    print(f"backed up {source} to {args.path} ({args.path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _show(storage: Storage, settings: Settings, args) -> int:
    today = _today(settings)
    summary = storage.user_summary(args.user_id, today)
    if summary is None:
        return _fail(f"user {args.user_id} is not in the database")
    unlimited = summary.unlimited or summary.user_id in settings.quota.unlimited_user_ids
    if unlimited:
        limit = "unlimited" + ("" if summary.unlimited else " (quota.unlimited_user_ids)")
        used = f"{_seconds(summary.charged_today)} used"
    else:
        daily = settings.quota.daily_seconds if summary.daily_seconds is None else summary.daily_seconds
        limit = f"{daily} s a day ({'default' if summary.daily_seconds is None else 'set for this user'})"
        used = (f"{_seconds(summary.charged_today)} used, "
                f"{_seconds(max(0.0, daily - summary.charged_today))} left")
    default_language = settings.whisper.language and f"{settings.whisper.language} (whisper.language)"
    language = summary.language or default_language or "detected per message"
    rows = [("first seen", f"{summary.first_seen:%Y-%m-%d %H:%M} UTC"),
            ("daily limit", limit),
            ("language", language),
            (f"today ({today})", used),
            ("in total", f"{_count(summary.transcriptions, 'transcription')}, "
                         f"{_count(summary.failures, 'failure')}, {_seconds(summary.total_seconds)} charged")]
    width = max(len(label) for label, _ in rows) + 2
    print(f"user {summary.user_id}")
    for label, value in rows:
        print(f"  {label:<{width}}{value}")
    return 0


def _grant(storage: Storage, settings: Settings, args) -> int:
    storage.set_unlimited(args.user_id, args.unlimited)
    print(f"user {args.user_id} {'has no daily limit now' if args.unlimited else 'has a daily limit again'}")
    if args.revoke and args.user_id in settings.quota.unlimited_user_ids:
        print(f"note: quota.unlimited_user_ids in the configuration still lifts the limit of {args.user_id}")
    return 0


def _set_quota(storage: Storage, settings: Settings, args) -> int:
    storage.set_daily_seconds(args.user_id, args.seconds)
    if args.seconds is None:
        print(f"user {args.user_id} has the default daily limit again ({settings.quota.daily_seconds} s)")
    else:
        print(f"user {args.user_id} has a daily limit of {args.seconds} s")
    return 0


_STATS_COLUMNS = ("day", "users", "transcriptions", "audio seconds", "failures", "avg processing")


def _stats(storage: Storage, settings: Settings, args) -> int:
    last = _today(settings)
    first = last - timedelta(days=args.days - 1)
    by_day = {entry.day: entry for entry in storage.stats(first, last)}
    days = [by_day.get(day, DayStats(day, 0, 0, 0.0, 0, 0.0))
            for day in (first + timedelta(days=n) for n in range(args.days))]
    rows = [_stats_row(str(entry.day), str(entry.users), entry.transcriptions, entry.audio_seconds,
                       entry.failures, entry.average_processing_seconds) for entry in days]
    transcriptions = sum(entry.transcriptions for entry in days)
    processing = sum(entry.average_processing_seconds * entry.transcriptions for entry in days)
    # No total of users: one person on several days is still one person.
    rows.append(_stats_row("total", "", transcriptions, sum(entry.audio_seconds for entry in days),
                           sum(entry.failures for entry in days), processing / max(transcriptions, 1)))
    widths = [max(len(column), *(len(row[n]) for row in rows)) for n, column in enumerate(_STATS_COLUMNS)]
    print(f"usage from {first} to {last} ({settings.quota.timezone})")
    for row in (_STATS_COLUMNS, *rows):
        print("  ".join(cell.ljust(width) if n == 0 else cell.rjust(width)
                        for n, (cell, width) in enumerate(zip(row, widths, strict=True))))
    return 0


def _stats_row(label: str, users: str, transcriptions: int, audio_seconds: float, failures: int,
               processing_seconds: float) -> list[str]:
    return [label, users, str(transcriptions), f"{audio_seconds:.1f}", str(failures),
            _seconds(processing_seconds) if transcriptions else "-"]


def _today(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.quota.timezone)).date()


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _whole_number(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def _seconds_or_default(text: str) -> int | None:
    return None if text == "default" else _whole_number(0)(text)


def _fail(message: str) -> int:
    print(f"voicebot: {message}", file=sys.stderr)
    return 1
