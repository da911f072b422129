import logging

from voicebot.logs import RedactingFilter

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
    assert caplog.text.count("<token>") == 2
