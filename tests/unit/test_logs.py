import json
import logging

from voicebot.app.logs import JsonFormatter, RedactingFilter

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
