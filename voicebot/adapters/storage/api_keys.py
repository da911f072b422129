"""The transcription API's keys in the database (table api_key): made, listed and revoked by the operator
(`voicebot api key ...`), looked up by the HTTP server for each request (the ApiKeyBook port).

A key's secret is shown once, when it is made, and stored only as its SHA-256: a leaked database or backup
lets no one call the API. The secret is long and random (240 bits), so a plain hash, looked up by index, is
enough; a slow password hash would only slow every request down."""
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from voicebot.adapters.storage.models import ApiKeyRecord, database, database_errors, utc_now
from voicebot.core.api import ApiKey
from voicebot.core.errors import StorageError

SECRET_PREFIX = "vb-"    # says what the secret is for, wherever it turns up (a config file, a leak scanner)
_SECRET_BYTES = 30       # 40 URL-safe characters
_SECRET = re.compile(re.escape(SECRET_PREFIX) + r"[A-Za-z0-9_-]{40}")
# A key's name is a label in /metrics and in log lines: short, and nothing to escape.
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as `voicebot api key list` shows it."""
    key: ApiKey
    created_at: datetime
    revoked_at: datetime | None


class ApiKeys:
    """The keys, in the database the Storage opened (the one the process uses)."""

    def create(self, name: str) -> tuple[ApiKey, str]:
        """A new key named `name` (KEY_NAME) and its secret, which nothing keeps; StorageError when a key
        of that name exists, revoked or not (its usage history stays its own)."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
        with database_errors():
            if ApiKeyRecord.select().where(ApiKeyRecord.name == name).exists():
                raise StorageError(f"an API key named {name} exists already: choose another name")
            with database.atomic():
                row = ApiKeyRecord.create(name=name, key_hash=_hash(secret), created_at=utc_now())
        return ApiKey(row.id, row.name), secret

    def keys(self) -> list[StoredKey]:
        """Every key, the oldest first."""
        with database_errors():
            return [StoredKey(ApiKey(row.id, row.name), row.created_at, row.revoked_at)
                    for row in ApiKeyRecord.select().order_by(ApiKeyRecord.id)]

    def revoke(self, name: str) -> ApiKey | None:
        """Revokes the key: its requests are refused from now on. None: no key of that name in use."""
        with database_errors(), database.atomic():
            row = ApiKeyRecord.get_or_none((ApiKeyRecord.name == name) & ApiKeyRecord.revoked_at.is_null())
            if row is None:
                return None
            row.revoked_at = utc_now()
            row.save()
            return ApiKey(row.id, row.name)

    def find(self, secret: str) -> ApiKey | None:
        """The key in use whose secret this is; None for any other text."""
        if not _SECRET.fullmatch(secret):
            return None
        with database_errors():
            row = ApiKeyRecord.get_or_none((ApiKeyRecord.key_hash == _hash(secret))
                                           & ApiKeyRecord.revoked_at.is_null())
        return None if row is None else ApiKey(row.id, row.name)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
