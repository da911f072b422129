"""`voicebot run` in webhook mode against the sandbox, which POSTs updates to it as Telegram does;
then the same bot, database and all, back in polling mode."""
import json

import pytest
import requests

from voicebot.adapters.webhook import SECRET_HEADER
from voicebot.core.replies import Wording
from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import TOKEN, RunningBot, replies_to, reply_to, wait_final, write_config
from helpers import free_port, normalized, send_http

pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()   # what the bot says in English
ERIN = SandboxUser(901, "Erin")
SECRET = "e2e_webhook-SECRET-4711"


def forged_start(update_id: int) -> bytes:
    """A /start in Erin's chat that did not come from Telegram."""
    return json.dumps({"update_id": update_id, "message": {
        "message_id": 999, "date": 0, "chat": {"id": ERIN.id, "type": "private"}, "from": {"id": ERIN.id},
        "text": "/start"}}).encode()


def webhook_info(sandbox: BotApiSandbox) -> dict:
    return requests.get(f"{sandbox.url}/bot{TOKEN}/getWebhookInfo", timeout=10).json()["result"]


def test_webhook_mode_end_to_end_and_back_to_polling(tmp_path, speech):
    listen, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    url = f"http://{listen}/telegram/updates"
    with BotApiSandbox(TOKEN, webhook_retry_seconds=0.2) as sandbox:
        config = tmp_path / "config.toml"
        write_config(config, sandbox, tmp_path / "bot.db", f'[whisper]\nworkers = 1\n[metrics]\nlisten = "{metrics}"\n',
                     f'mode = "webhook"\nwebhook_url = "{url}"\nwebhook_listen = "{listen}"\n'
                     f'webhook_secret = "{SECRET}"\n')
        bot = RunningBot(config, tmp_path)
        try:
            assert sandbox.wait_for(lambda: sandbox.calls("setWebhook"), timeout=120)
            assert send_http(url, forged_start(1), {SECRET_HEADER: "e2e_webhook-SECRET-4712"})[0] == 403
            assert send_http(url, forged_start(2))[0] == 403
            voice = sandbox.send_voice(ERIN, speech.voice_note, speech.duration)
            answer = wait_final(sandbox, ERIN.id, voice)
            assert speech.words in normalized(answer.text)
            assert answer.edits[-1] == ENGLISH_WORDING.PROCESSING   # the status message became the transcript
            assert send_http(f"http://{metrics}/healthz", method="GET")[0] == 200
        finally:
            returncode, stderr = bot.stop()
        assert returncode == 0, stderr
        assert "Traceback" not in stderr and TOKEN.split(":")[1] not in stderr and SECRET not in stderr
        assert [m.reply_to for m in sandbox.messages(ERIN.id)] == [voice], "the forged /start got no answer"
        [registered] = sandbox.calls("setWebhook")
        assert (registered.params["url"], registered.params["secret_token"]) == (url, SECRET)
        assert json.loads(registered.params["allowed_updates"]) == [
            "message", "callback_query", "channel_post", "guest_message", "business_connection", "business_message",
            "pre_checkout_query"]
        assert TOKEN.split(":")[1] not in registered.params["url"]
        assert not sandbox.calls("getUpdates") and not sandbox.calls("deleteWebhook")
        assert webhook_info(sandbox)["url"] == url, "left registered: Telegram keeps updates meanwhile"

        help_id = sandbox.send_text(ERIN, "/help")   # while nobody listens: it waits at Telegram
        write_config(config, sandbox, tmp_path / "bot.db", "[whisper]\nworkers = 1\n")
        bot = RunningBot(config, tmp_path)
        try:
            assert sandbox.wait_for(lambda: reply_to(sandbox, ERIN.id, help_id) is not None, timeout=120)
        finally:
            returncode, stderr = bot.stop()
        assert returncode == 0, stderr
        assert sandbox.calls("deleteWebhook") and sandbox.calls("getUpdates")
        assert webhook_info(sandbox)["url"] == ""
        [transcript] = replies_to(sandbox, ERIN.id, voice)
        assert transcript.text == answer.text and transcript.edits == answer.edits, "the voice was not done twice"
