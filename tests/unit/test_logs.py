import json
import logging
import subprocess
import sys

from voicebot.app.logs import JsonFormatter, RedactingFilter
from voicebot.core.errors import url_passwords, without_password

TOKEN = "123456:AAH-secret_token"


def test_the_token_is_redacted_from_messages_arguments_and_tracebacks(caplog):
    logger = logging.getLogger("test.redaction")
    caplog.handler.addFilter(RedactingFilter([TOKEN]))
    logger.warning("calling http://api/bot%s/getMe", TOKEN)
    try:
        raise ConnectionError(f"Max retries exceeded with url: /bot{TOKEN.replace(':', '%3A')}/getUpdates")
    except ConnectionError:
        logger.exception("poll failed")
    assert "secret_token" not in caplog.text
    assert caplog.text.count("<secret>") == 2


def test_json_lines_are_parseable_and_redacted(caplog):
    record = logging.LogRecord("voicebot.test", logging.INFO, __file__, 1, "job %s: done with %s", (7, TOKEN), None)
    RedactingFilter([TOKEN]).filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "INFO" and entry["logger"] == "voicebot.test"
    assert entry["message"] == "job 7: done with <secret>"


def test_url_passwords_are_redacted_in_every_form_a_url_can_hold_them():
    url = "postgresql://bot:p%40ss%25word@db:5432/voicebot?sslmode=require&password=q-secret"
    assert without_password(url) == "postgresql://bot:***@db:5432/voicebot?sslmode=require&password=***"
    redaction = RedactingFilter(url_passwords(url))
    for text in ("p%40ss%25word", "p@ss%word", "q-secret"):
        assert redaction.redact(f"could not connect with {text}") == "could not connect with <secret>"


def test_a_broker_message_is_logged_by_its_id_never_with_its_payload(caplog):
    class Message:   # what Dramatiq hands its logger when a message fails
        message_id, actor_name = "m-1", "event"

        def __str__(self):
            return "{'text': 'the private words of a transcript'}"

    caplog.handler.addFilter(RedactingFilter([TOKEN]))
    logging.getLogger("dramatiq.worker").error("Failed to process message %s with unhandled exception.", Message())
    assert "private words" not in caplog.text and "message m-1 (event)" in caplog.text


def test_uncaught_errors_and_pytelegrambotapis_own_handler_go_through_the_redaction():
    program = f"""
import logging, telebot
from voicebot.app.logs import configure_logging
configure_logging("INFO", [{TOKEN!r}])
telebot.logger.error("telebot says %s", {TOKEN!r})
raise RuntimeError("boom with " + {TOKEN!r})
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "boom with <secret>" in done.stderr and "telebot says <secret>" in done.stderr
    assert "secret_token" not in done.stderr
