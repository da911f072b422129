"""One frozen settings object, read from TOML and the environment, validated once at start.

Every key can be overridden by an environment variable named VOICEBOT_<SECTION>_<KEY>
(upper case), e.g. VOICEBOT_WHISPER_WORKERS=2. TELEGRAM_BOT_TOKEN sets telegram.token, or
TELEGRAM_BOT_TOKEN_FILE names a file holding it (a container secret).
"""
import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voicebot.core.billing import MAX_STARS

ENV_PREFIX = "VOICEBOT_"
DESIGN_WORKERS = 3
TOKEN_VARIABLE = "TELEGRAM_BOT_TOKEN"
TOKEN_FILE_VARIABLE = "TELEGRAM_BOT_TOKEN_FILE"


class ConfigError(Exception):
    """A configuration problem, worded for the operator in one line."""


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    api_url: str = "https://api.telegram.org"
    token: str = field(default="", repr=False)
    poll_timeout_seconds: int = 10
    max_messages_per_second: int = 30
    mode: str = "polling"     # or "webhook": Telegram POSTs each update to webhook_url
    webhook_url: str = ""
    webhook_listen: str = ""
    webhook_secret: str = field(default="", repr=False)
    # A local `telegram-bot-api --local` server: getFile names a file on its disk, read from there, up to
    # 2000 MB. local_files_map = "SERVER_DIR=LOCAL_DIR": where its directory is seen from here.
    local_mode: bool = False
    local_files_map: str = ""


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = "sqlite:///voicebot.db"


@dataclass(frozen=True, slots=True)
class WhisperSettings:
    model: str = "base"
    workers: int = 0          # 0: one per CPU core, at most DESIGN_WORKERS
    cpu_threads: int = 0
    beam_size: int = 5
    language: str = ""
    device: str = "cpu"
    compute_type: str = "int8"
    timeout_seconds: int = 120
    quarantine_tries: int = 2


@dataclass(frozen=True, slots=True)
class QueueSettings:
    max_pending: int = 100


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    daily_seconds: int = 600
    timezone: str = "UTC"
    unlimited_user_ids: tuple[int, ...] = ()
    charge_repeats: bool = False   # an answer from memory (a forwarded copy transcribed before) is charged too
    # A channel's own allowance: its posts are charged to the channel, for all of its readers at once.
    channel_daily_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class OutputSettings:
    file_threshold_chars: int = 8000


@dataclass(frozen=True, slots=True)
class AdminSettings:
    user_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StorageSettings:
    keep_transcripts: bool = True
    retention_days: int = 90


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    rate_limit_seconds: int = 10
    max_duration_seconds: int = 300
    max_file_mb: int = 20


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    listen: str = ""


@dataclass(frozen=True, slots=True)
class ApiSettings:
    listen: str = ""   # HOST:PORT of the OpenAI-compatible transcription API; empty: off


@dataclass(frozen=True, slots=True)
class BillingSettings:
    """Minutes sold for Telegram Stars (core.billing); off by default, and then nothing changes."""
    enabled: bool = False
    packs: tuple[dict, ...] = ({"minutes": 60, "stars": 50}, {"minutes": 300, "stars": 200})
    expire_days: int = 0       # bought minutes expire this many days after the user's latest purchase; 0: never
    support: str = ""          # what /paysupport adds: how to reach the operator


@dataclass(frozen=True, slots=True)
class ShutdownSettings:
    grace_seconds: int = 30


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    url: str = field(default="", repr=False)   # may hold a password
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: str = "INFO"


@dataclass(frozen=True, slots=True)
class Settings:
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    whisper: WhisperSettings = field(default_factory=WhisperSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    quota: QuotaSettings = field(default_factory=QuotaSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    shutdown: ShutdownSettings = field(default_factory=ShutdownSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    billing: BillingSettings = field(default_factory=BillingSettings)

    def replace(self, **sections: Mapping[str, object]) -> "Settings":
        """A copy with some keys changed, e.g. replace(telegram={"api_url": url})."""
        return _build({**_as_tables(self), **{
            name: {**_as_tables(self)[name], **values} for name, values in sections.items()}})


_POSITIVE = {
    "telegram.poll_timeout_seconds", "telegram.max_messages_per_second", "whisper.beam_size", "whisper.timeout_seconds",
    "whisper.quarantine_tries",
    "queue.max_pending", "broker.max_attempts", "limits.max_duration_seconds", "limits.max_file_mb",
    "output.file_threshold_chars",
}
_SECRET_KEYS = {"telegram.token", "telegram.webhook_secret"}   # never repeated in an error
MAX_EXPIRE_DAYS = 3650   # past it a date is no expiry anyone means (and a huge one overflows the date type)
_NOT_NEGATIVE = {"whisper.workers", "whisper.cpu_threads", "quota.daily_seconds", "quota.channel_daily_seconds",
                 "limits.rate_limit_seconds", "storage.retention_days", "shutdown.grace_seconds",
                 "billing.expire_days"}


def worker_count(settings: Settings) -> int:
    """WhisperActors to run. The design's three need three cores: on this project's two-core
    machines, three single-thread models are no faster than two (measured: 12 voice notes in
    9.5 s against 9.4 s) and hold one more model in memory."""
    return settings.whisper.workers or min(DESIGN_WORKERS, os.cpu_count() or 1)


def worker_threads(settings: Settings) -> int:
    """CPU threads per WhisperActor: whisper.cpu_threads, or the cores shared out among them."""
    return settings.whisper.cpu_threads or max(1, (os.cpu_count() or 1) // worker_count(settings))


def load_settings(path: Path | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read `path` (or only defaults when None), apply environment overrides, validate."""
    tables = _read_toml(path) if path is not None else {}
    _apply_environment(tables, environ)
    return _build(tables)


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass an existing file with --config") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def _apply_environment(tables: dict, environ: Mapping[str, str]) -> None:
    for section in dataclasses.fields(Settings):
        for key in dataclasses.fields(section.type):
            name = f"{ENV_PREFIX}{section.name}_{key.name}".upper()
            if name in environ:
                tables.setdefault(section.name, {})[key.name] = _parse_env(name, environ[name], key.type)
    if environ.get(TOKEN_VARIABLE):
        tables.setdefault("telegram", {})["token"] = environ[TOKEN_VARIABLE]
    elif environ.get(TOKEN_FILE_VARIABLE):
        tables.setdefault("telegram", {})["token"] = _token_from_file(environ[TOKEN_FILE_VARIABLE])


def _token_from_file(path: str) -> str:
    """The token in a secret file (compose and Docker mount secrets under /run/secrets): its one line."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{TOKEN_FILE_VARIABLE} names {path}, which cannot be read ({error.__class__.__name__}); "
                          f"mount the secret there or set {TOKEN_VARIABLE} instead") from None


def _parse_env(name: str, raw: str, kind: type) -> object:
    if kind is str:
        return raw
    if kind is bool:
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ConfigError(f"environment variable {name} must be true or false, got {raw!r}")
        return raw.lower() in ("true", "1")
    try:
        if kind is int:
            return int(raw)
        return [int(part) for part in raw.replace(",", " ").split()]
    except ValueError:
        what = "a whole number" if kind is int else "whole numbers separated by commas"
        raise ConfigError(f"environment variable {name} must be {what}, got {raw!r}") from None


def _build(tables: Mapping[str, object]) -> Settings:
    sections = {field.name: field for field in dataclasses.fields(Settings)}
    built = {}
    for name, table in tables.items():
        if name not in sections:
            raise ConfigError(f"unknown config section [{name}]; known sections: {', '.join(sections)}")
        if not isinstance(table, Mapping):
            raise ConfigError(f"config key {name} must be a table like [{name}]")
        built[name] = _build_section(name, sections[name].type, table)
    settings = Settings(**built)
    _check_file_limit(settings)
    _check_broker(settings)
    _check_webhook(settings.telegram)
    _check_billing(settings.billing)
    return settings


def _check_billing(billing: BillingSettings) -> None:
    if billing.enabled and not billing.packs:
        raise ConfigError("billing.enabled = true needs at least one pack: set billing.packs like "
                          "[{minutes = 60, stars = 50}]")
    minutes = [pack["minutes"] for pack in billing.packs]
    if len(set(minutes)) != len(minutes):
        raise ConfigError(f"config key billing.packs has two packs of the same minutes ({minutes}): give each pack "
                          f"its own number of minutes")


def _check_packs(value: object) -> None:
    """billing.packs: a list of {minutes = M, stars = S}, both positive whole numbers, S at most Telegram's most."""
    example = "like [{minutes = 60, stars = 50}, {minutes = 300, stars = 200}]"
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"config key billing.packs must be a list of packs {example}, got {value!r}")
    for pack in value:
        if not isinstance(pack, Mapping) or set(pack) != {"minutes", "stars"} or not all(
                _is_of(pack[key], int) and pack[key] > 0 for key in ("minutes", "stars")):
            raise ConfigError(f"config key billing.packs must be a list of packs {example}, each with positive "
                              f"whole numbers; got {pack!r}")
        if pack["stars"] > MAX_STARS:
            raise ConfigError(f"config key billing.packs has a pack of {pack['stars']} stars: Telegram's highest "
                              f"price is {MAX_STARS} stars")


WEBHOOK_MODE = "webhook"
_MODES = ("polling", WEBHOOK_MODE)
_WEBHOOK_KEYS = ("webhook_url", "webhook_listen", "webhook_secret")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")   # what Telegram accepts as secret_token


def _check_webhook(telegram: TelegramSettings) -> None:
    if telegram.mode not in _MODES:
        raise ConfigError(f"config key telegram.mode must be \"polling\" or \"webhook\", got {telegram.mode!r}")
    if telegram.mode != WEBHOOK_MODE:
        return
    missing = [f"telegram.{key}" for key in _WEBHOOK_KEYS if not getattr(telegram, key)]
    if missing:
        raise ConfigError(f"telegram.mode = \"webhook\" needs {', '.join(missing)}: set "
                          f"{'them' if len(missing) > 1 else 'it'} (see config.toml), or use mode = \"polling\"")
    _check_webhook_url(telegram.webhook_url, telegram.token)
    if not _is_host_port(telegram.webhook_listen):
        raise ConfigError(f"config key telegram.webhook_listen must be HOST:PORT like \"127.0.0.1:8443\", "
                          f"got {telegram.webhook_listen!r}")
    if not _WEBHOOK_SECRET.fullmatch(telegram.webhook_secret):
        raise ConfigError("config key telegram.webhook_secret must be 1 to 256 characters from A-Z, a-z, 0-9, "
                          "_ and - (Telegram's rule), e.g. the output of `openssl rand -hex 32`")


def _check_webhook_url(url: str, token: str) -> None:
    # The token's secret half in the URL would show in proxy logs and getWebhookInfo; the
    # secret_token header is what proves a request comes from Telegram.
    if token and (token.partition(":")[2] or token) in unquote(url):
        raise ConfigError("config key telegram.webhook_url must not contain the bot token: choose a path of your "
                          "own; telegram.webhook_secret is what proves a request comes from Telegram")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"config key telegram.webhook_url must be the public URL Telegram posts updates to, "
                          f"like \"https://bot.example.com/telegram-updates\", got {url!r}")


CLOUD_MAX_FILE_MB = 20    # what Telegram's own Bot API lets bots download
LOCAL_MAX_FILE_MB = 2000  # what a local Bot API server (--local) does


def _check_file_limit(settings: Settings) -> None:
    telegram, max_file_mb = settings.telegram, settings.limits.max_file_mb
    if telegram.local_mode and max_file_mb > LOCAL_MAX_FILE_MB:
        raise ConfigError(f"config key limits.max_file_mb must be at most {LOCAL_MAX_FILE_MB} (a local Bot API "
                          f"server's limit), got {max_file_mb}")
    if not telegram.local_mode and max_file_mb > CLOUD_MAX_FILE_MB:
        raise ConfigError(f"config key limits.max_file_mb is {max_file_mb}, but Telegram's Bot API serves files "
                          f"of at most {CLOUD_MAX_FILE_MB} MB: set it to {CLOUD_MAX_FILE_MB} or less, or run a "
                          f"local telegram-bot-api --local and set telegram.local_mode = true")
    if telegram.local_files_map and not telegram.local_mode:
        raise ConfigError("config key telegram.local_files_map is set but telegram.local_mode is not: set "
                          "local_mode = true (a telegram-bot-api --local server), or remove the map")
    if telegram.local_files_map:
        server, equals, local = telegram.local_files_map.partition("=")
        if not (equals and os.path.isabs(server) and os.path.isabs(local)):
            raise ConfigError(f"config key telegram.local_files_map must be \"SERVER_DIR=LOCAL_DIR\", two "
                              f"absolute paths like \"/var/lib/telegram-bot-api=/mnt/bot-api\", got "
                              f"{telegram.local_files_map!r}")


_BROKER_SCHEMES = ("amqp://", "amqps://", "redis://", "rediss://")


def _check_broker(settings: Settings) -> None:
    url = settings.broker.url
    if not url:
        return
    if not url.startswith(_BROKER_SCHEMES):
        raise ConfigError("config key broker.url must start with amqp:// (RabbitMQ) or redis:// (Redis), "
                          "or be empty to run everything in one process")
    if not settings.database.url.startswith(("postgres://", "postgresql://")):
        raise ConfigError("with broker.url set, database.url must be PostgreSQL (postgresql://...): the bot "
                          "node and the worker nodes share it, and SQLite works only on one host")


def _build_section(section: str, kind: type, table: Mapping[str, object]):
    keys = {field.name: field.type for field in dataclasses.fields(kind)}
    for key, value in table.items():
        dotted = f"{section}.{key}"
        if key not in keys:
            raise ConfigError(f"unknown config key {dotted}; known keys in [{section}]: {', '.join(keys)}")
        _check_value(dotted, value, keys[key])
    return kind(**{key: tuple(dict(item) if isinstance(item, Mapping) else item for item in value)
                   if isinstance(value, list) else value for key, value in table.items()})


def _check_value(dotted: str, value: object, kind: type) -> None:
    if dotted == "billing.packs":
        _check_packs(value)
        return
    if not _is_of(value, kind):
        got = f"a value of type {type(value).__name__}" if dotted in _SECRET_KEYS else repr(value)
        raise ConfigError(f"config key {dotted} must be {_describe(kind)}, got {got}")
    if dotted == "quota.timezone":
        _check_timezone(value)
    if dotted == "metrics.listen" and value and not _is_host_port(value):
        raise ConfigError(f"config key metrics.listen must be HOST:PORT like \"127.0.0.1:9464\" (or empty), "
                          f"got {value!r}")
    if dotted == "api.listen" and value and not _is_host_port(value):
        raise ConfigError(f"config key api.listen must be HOST:PORT like \"127.0.0.1:8090\" (or empty), "
                          f"got {value!r}")
    if dotted in _POSITIVE and value < 1:
        raise ConfigError(f"config key {dotted} must be at least 1, got {value}")
    if dotted in _NOT_NEGATIVE and value < 0:
        raise ConfigError(f"config key {dotted} must not be negative, got {value}")
    if dotted == "billing.expire_days" and value > MAX_EXPIRE_DAYS:
        raise ConfigError(f"config key billing.expire_days must be at most {MAX_EXPIRE_DAYS} (ten years; 0: bought "
                          f"minutes never expire), got {value}")


def _is_of(value: object, kind: type) -> bool:
    if kind == tuple[int, ...]:
        return isinstance(value, (list, tuple)) and all(_is_of(item, int) for item in value)
    # bool is a subclass of int, but `workers = true` is a mistake, not a number.
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def _is_host_port(value: str) -> bool:
    _, colon, port = value.rpartition(":")
    return bool(colon) and port.isdigit() and 0 < int(port) < 65536


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"config key quota.timezone must be a time zone name like \"Europe/Berlin\", "
                          f"got {name!r}") from None


def _describe(kind: type) -> str:
    return {int: "a whole number", str: "a string", bool: "true or false",
            tuple[int, ...]: "a list of whole numbers like [123, 456]"}[kind]


def _as_tables(settings: Settings) -> dict[str, dict]:
    return {field.name: dataclasses.asdict(getattr(settings, field.name))
            for field in dataclasses.fields(Settings)}
