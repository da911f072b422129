"""Webhooks: setting one, and delivering updates to it one at a time, as Telegram does."""
from __future__ import annotations

import copy
import http.client
import json
import re
import time
from urllib.parse import urlsplit

from .protocol import _ApiError, _Request
from .state import _SandboxState, _Webhook

_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WEBHOOK_TIMEOUT_SECONDS = 30


class _WebhookMethods(_SandboxState):
    """setWebhook, deleteWebhook, getWebhookInfo (run on the server's threads), and the delivery thread."""

    def _set_webhook(self, request: _Request) -> bool:
        url = str(request.params.get("url") or "")
        if not url:
            return self._delete_webhook(request)  # as in Telegram: an empty URL removes the webhook
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _ApiError(400, "Bad Request: bad webhook: Failed to resolve host: Name or service not known")
        secret = request.params.get("secret_token") or None
        if secret is not None and not _WEBHOOK_SECRET.fullmatch(str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        with self._cond:
            self._webhook = _Webhook(url, secret)
            self._set_allowed_updates(request)  # the bot's one setting, which getUpdates changes too
            self._drop_pending_updates_if_asked(request)
            self._cond.notify_all()
        return True

    def _delete_webhook(self, request: _Request) -> bool:
        with self._cond:
            self._webhook = None
            self._drop_pending_updates_if_asked(request)
            self._cond.notify_all()
        return True

    def _drop_pending_updates_if_asked(self, request: _Request) -> None:
        if str(request.params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()

    def _get_webhook_info(self, request: _Request) -> dict:
        with self._cond:
            webhook = self._webhook.info() if self._webhook is not None else {"url": ""}
            return {**webhook, "has_custom_certificate": False, "pending_update_count": len(self._pending_updates()),
                    **self._allowed_updates_info()}

    # --- webhook delivery (its own thread)

    def _deliver_to_webhook(self) -> None:
        """While a webhook is set, POSTs the oldest pending update the bot's allowed_updates lets through until it
        is answered 2xx, then the next."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or (self._webhook is not None and self._pending_updates()))
                if self._stopping:
                    return
                webhook, update = self._webhook, copy.deepcopy(self._updates[0])
                self._delivering = _webhook_connection(webhook.url)
            error = _post_update(self._delivering, webhook, update)
            with self._cond:
                self._delivering = None
                if error is None:
                    self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
                else:
                    webhook.last_error_date, webhook.last_error_message = int(time.time()), error
                self._cond.notify_all()
                if error is not None:
                    self._cond.wait_for(lambda: self._stopping, self._webhook_retry_seconds)


def _webhook_connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return connection_type(parts.hostname, parts.port, timeout=_WEBHOOK_TIMEOUT_SECONDS)


def _post_update(connection: http.client.HTTPConnection, webhook: _Webhook, update: dict) -> str | None:
    """POSTs one update to the webhook; None when it was taken (2xx), else Telegram's last_error_message."""
    parts = urlsplit(webhook.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json"}
    if webhook.secret_token is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
    try:
        connection.request("POST", target, json.dumps(update, ensure_ascii=False).encode(), headers)
        answer = connection.getresponse()
        answer.read()
    except (OSError, http.client.HTTPException) as error:
        return getattr(error, "strerror", None) or str(error) or type(error).__name__
    finally:
        connection.close()
    if 200 <= answer.status < 300:
        return None
    return f"Wrong response from the webhook: {answer.status} {answer.reason}"

