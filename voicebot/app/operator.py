"""Operator commands on the database named by database.url: `voicebot db`, `voicebot users`, `voicebot stats`,
`voicebot api key`, `voicebot billing`.

"Today" is the day in quota.timezone, the day the bot counts quotas by. A running bot re-reads user
settings from the database every so often, so changes made here need no restart.
"""
import argparse
import os
import sqlite3
import sys
import time
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from voicebot.adapters.storage import Storage
from voicebot.adapters.storage.api_keys import KEY_NAME, ApiKeys, StoredKey
from voicebot.adapters.storage.ledger import Ledger
from voicebot.app.config import Settings
from voicebot.core.billing import Refund
from voicebot.core.calls import Destination, RefundStars, SendText
from voicebot.core.domain import DayStats
from voicebot.core.errors import StorageError, TelegramError
from voicebot.core.ledger import LedgerDay, agreement, charges_of, differences


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
    return [migrate, prune, backup, show, grant, set_quota, stats, *_add_api_commands(commands),
            *_add_billing_commands(commands)]


def _add_billing_commands(commands) -> list[argparse.ArgumentParser]:
    """`voicebot billing refund|…`: payments in Telegram Stars."""
    billing = commands.add_parser("billing", help="payments in Telegram Stars: refunds, reports, reconciling")
    billing_commands = billing.add_subparsers(title="commands", required=True, metavar="COMMAND")
    refund = billing_commands.add_parser("refund", help="give a payment's Stars back; what is unspent of its minutes "
                                                        "is taken back (minutes used stay used)")
    refund.add_argument("charge_id", metavar="CHARGE_ID", help="the payment's telegram_payment_charge_id")
    refund.set_defaults(command=_command(_refund))
    report = billing_commands.add_parser("report", help="per day: Stars taken and refunded, minutes sold, used, "
                                                        "taken back (the unspent minutes of refunded payments), "
                                                        "expired, and outstanding (every balance at the day's end)")
    report.add_argument("--days", type=_whole_number(1), default=30, metavar="N",
                        help="the last N days, today included (default: 30)")
    report.set_defaults(command=_command(_billing_report))
    reconcile = billing_commands.add_parser("reconcile", help="compare the ledger with Telegram's Star "
                                                              "transactions; exit 1 when they differ")
    reconcile.set_defaults(command=_command(_reconcile))
    return [refund, report, reconcile]


def _add_api_commands(commands) -> list[argparse.ArgumentParser]:
    """`voicebot api key create|list|revoke`: the transcription API's keys."""
    api = commands.add_parser("api", help="the transcription API's keys")
    api_commands = api.add_subparsers(title="commands", required=True, metavar="COMMAND")
    key = api_commands.add_parser("key", help="create, list or revoke API keys")
    key_commands = key.add_subparsers(title="commands", required=True, metavar="COMMAND")
    create = key_commands.add_parser("create", help="a new key: its secret is printed once, and stored hashed")
    create.add_argument("name", type=_key_name, metavar="NAME",
                        help="what the key is for (shown in lists and metrics): letters, digits, _ . -")
    create.add_argument("--daily-minutes", type=_whole_number(0), default=None, metavar="N",
                        help="minutes of audio per day for this key (default: quota.daily_seconds)")
    create.set_defaults(command=_command(_create_key))
    listing = key_commands.add_parser("list", help="every key: its limit, its use today, revoked or not")
    listing.set_defaults(command=_command(_list_keys))
    revoke = key_commands.add_parser("revoke", help="refuse a key's requests from now on")
    revoke.add_argument("name", metavar="NAME")
    revoke.set_defaults(command=_command(_revoke_key))
    return [create, listing, revoke]


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


def _create_key(storage: Storage, settings: Settings, args) -> int:
    with storage.batch():   # the key and its limit together, or neither
        key, secret = ApiKeys().create(args.name)
        if args.daily_minutes is not None:
            storage.set_daily_seconds(key.user_id, args.daily_minutes * 60)
    limit = (f"{args.daily_minutes} min a day" if args.daily_minutes is not None
             else f"the default daily limit, {settings.quota.daily_seconds} s")
    # The secret alone on stdout (KEY=$(voicebot api key create NAME)); what to know about it on stderr.
    print(f"created API key {key.name} ({limit}); its secret follows, shown this once: keep it safe",
          file=sys.stderr)
    print(secret)
    return 0


# The user id is the key's in `voicebot users show|grant|set-quota`, which change its limit later.
RECONCILE_RETRY_SECONDS = 2.0   # a difference is read again once after this: the bot may be storing that payment
_KEY_COLUMNS = ("name", "user id", "created (UTC)", "daily limit", "used today", "state")


def _list_keys(storage: Storage, settings: Settings, args) -> int:
    stored = ApiKeys().keys()
    if not stored:
        print("no API keys yet: voicebot api key create NAME")
        return 0
    today = _today(settings)
    rows = [_KEY_COLUMNS, *(_key_row(storage, settings, entry, today) for entry in stored)]
    widths = [max(len(row[n]) for row in rows) for n in range(len(_KEY_COLUMNS))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _key_row(storage: Storage, settings: Settings, entry: StoredKey, today: date) -> tuple[str, ...]:
    summary = storage.user_summary(entry.key.user_id, today)
    if summary is not None and summary.unlimited:
        limit = "unlimited"
    elif summary is None or summary.daily_seconds is None:
        limit = f"{settings.quota.daily_seconds} s (default)"
    else:
        limit = f"{summary.daily_seconds} s"
    state = "in use" if entry.revoked_at is None else f"revoked {entry.revoked_at:%Y-%m-%d %H:%M}"
    return (entry.key.name, str(entry.key.user_id), f"{entry.created_at:%Y-%m-%d %H:%M}", limit,
            _seconds(summary.charged_today if summary else 0.0), state)


def _revoke_key(storage: Storage, settings: Settings, args) -> int:
    key = ApiKeys().revoke(args.name)
    if key is None:
        return _fail(f"no API key named {args.name} is in use: see voicebot api key list")
    print(f"revoked API key {key.name}: its requests are refused from now on")
    return 0


def _key_name(text: str) -> str:
    if not KEY_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is no key name: 1 to 64 of letters, digits, _ . and -, "
                                         "starting with a letter or digit")
    return text


def _refund(storage: Storage, settings: Settings, args) -> int:
    """Telegram first: only once refundStarPayment said yes is the refund written, so a refusal changes nothing."""
    payer = storage.payer(args.charge_id)
    if payer is None:
        return _fail(f"no payment with charge id {args.charge_id} in the ledger: check the id (the payer's "
                     f"/paysupport lists theirs)")
    if not settings.telegram.token:
        return _fail("a refund is made by Telegram: set TELEGRAM_BOT_TOKEN (or TELEGRAM_BOT_TOKEN_FILE)")
    from voicebot.adapters.telegram import TelegramClient  # loaded only by the command that calls the Bot API
    telegram = TelegramClient(settings.telegram.api_url, settings.telegram.token, attempts=1)
    try:
        telegram.perform(RefundStars(payer, args.charge_id))
    except TelegramError as error:
        if error.transient:
            return _fail(f"Telegram did not answer the refund of payment {args.charge_id} ({error.description}): "
                         f"it may have been made or not; check with `voicebot billing reconcile` before trying again")
        return _fail(f"Telegram refused to refund payment {args.charge_id}: {error.description}; nothing was "
                     f"changed")
    try:
        refund = storage.record_refund(args.charge_id)
    except StorageError as error:
        return _fail(f"Telegram refunded payment {args.charge_id}: its Stars went back to user {payer}, but the "
                     f"ledger could not record it ({error}); the bot records it when it reads Telegram's "
                     f"refunded_payment update (`voicebot billing reconcile` shows whether it has)")
    print(f"refunded {refund.stars} stars of payment {args.charge_id} to user {payer}; took back "
          f"{_minutes(refund.taken)} of their bought minutes (minutes used stay used); their balance is now "
          f"{_minutes(refund.balance)}")
    if refund.new:   # the refund's first recording tells the payer (the bot, reading it again, does not)
        # Unlike the refund, the notice may be made again after a failure on the way (a 429, say).
        notices = TelegramClient(settings.telegram.api_url, settings.telegram.token)
        _tell_refunded(notices, refund, storage.chosen_language(payer))
    return 0


def _tell_refunded(telegram, refund: Refund, language: str | None) -> None:
    from voicebot.adapters.translations import load_languages  # only this command speaks to users
    words = load_languages()[language]
    try:
        telegram.perform(SendText(Destination(refund.user_id), words.refunded(refund.stars, refund.taken,
                                                                               refund.balance)))
    except TelegramError as error:
        print(f"voicebot: the user was not told of the refund ({error.description})", file=sys.stderr)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


_REPORT_COLUMNS = ("day", "Stars taken", "Stars refunded", "min sold", "min used", "min taken back", "min expired",
                   "min outstanding")
_SUMMED = ("stars_taken", "stars_refunded", "sold_seconds", "used_seconds", "refunded_seconds", "expired_seconds")


def _billing_report(storage: Storage, settings: Settings, args) -> int:
    last = _today(settings)
    first = last - timedelta(days=args.days - 1)
    days = Ledger().days(first, last, settings.quota.timezone)
    total = LedgerDay(last, *(sum(getattr(day, name) for day in days) for name in _SUMMED),
                      outstanding_seconds=days[-1].outstanding_seconds)
    print(f"Telegram Stars and the minutes they bought, from {first} to {last} ({settings.quota.timezone})")
    _print_table(_REPORT_COLUMNS, [*(_ledger_row(str(day.day), day) for day in days), _ledger_row("total", total)])
    return 0


def _ledger_row(label: str, day: LedgerDay) -> list[str]:
    return [label, str(day.stars_taken), str(day.stars_refunded),
            *(f"{seconds / 60:.1f}" for seconds in (day.sold_seconds, day.used_seconds, day.refunded_seconds,
                                                    day.expired_seconds, day.outstanding_seconds))]


def _print_table(columns: tuple[str, ...], rows: list[list[str]]) -> None:
    """Columns as wide as their widest cell: the first to the left, the figures to the right."""
    widths = [max(len(column), *(len(row[n]) for row in rows)) for n, column in enumerate(columns)]
    for row in (columns, *rows):
        print("  ".join(cell.ljust(width) if n == 0 else cell.rjust(width)
                        for n, (cell, width) in enumerate(zip(row, widths, strict=True))))


def _reconcile(storage: Storage, settings: Settings, args) -> int:
    """Telegram's Star transactions against the ledger's payments: one line per difference (exit 1), or what
    agrees (exit 0)."""
    if not settings.telegram.token:
        return _fail("reconciling reads Telegram's Star transactions: set TELEGRAM_BOT_TOKEN (or "
                     "TELEGRAM_BOT_TOKEN_FILE)")
    from voicebot.adapters.telegram import TelegramClient  # loaded only by the commands that call the Bot API
    telegram = TelegramClient(settings.telegram.api_url, settings.telegram.token)
    try:
        found, ledger = _compared(telegram)
        if found:   # the two read at two moments: a payment or refund between them is a difference only for a moment
            time.sleep(RECONCILE_RETRY_SECONDS)
            found, ledger = _compared(telegram)
    except TelegramError as error:
        advice = "try again later" if error.transient else "check TELEGRAM_BOT_TOKEN and telegram.api_url"
        return _fail(f"could not read Telegram's Star transactions ({error.description}): nothing was compared; "
                     f"{advice}")
    for line in found:
        print(line)
    if not found:
        print(agreement(ledger))
    return 1 if found else 0


def _compared(telegram) -> tuple[list[str], list]:
    """The differences between Telegram's Star transactions and the ledger's payments, and those payments."""
    transactions = telegram.star_transactions()
    # The ledger after Telegram: a payment made meanwhile is in Telegram's list only once the bot may have it too.
    ledger = Ledger().payments()
    return differences(charges_of(transactions), ledger), ledger


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
    print(f"usage from {first} to {last} ({settings.quota.timezone})")
    _print_table(_STATS_COLUMNS, rows)
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
