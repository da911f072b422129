"""The operator's view of a running bot: /metrics moves with the work, /healthz tells the truth."""
import re
import time
import urllib.error
import urllib.request

import pytest

from voicebot.core.replies import Wording
from voicebot.sandbox import BotApiSandbox, SandboxUser

from botprocess import TOKEN, RunningBot, wait_final, write_config
from helpers import free_port, normalized
from media import audio_file

pytestmark = pytest.mark.e2e

ENGLISH_WORDING = Wording()   # what the bot says in English
DORA = SandboxUser(801, "Dora")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sample(metrics: str, name: str, **labels) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{name}{{{wanted}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_metrics_move_after_a_transcription_and_health_follows_the_workers(tmp_path, speech, speech_file):
    listen = f"127.0.0.1:{free_port()}"
    with BotApiSandbox(TOKEN) as sandbox:
        config = write_config(tmp_path / "config.toml", sandbox, tmp_path / "bot.db", f"""
[whisper]
workers = 1
[limits]
rate_limit_seconds = 0
[metrics]
listen = "{listen}"
""")
        bot = RunningBot(config, tmp_path)
        try:
            voice = sandbox.send_voice(DORA, speech.voice_note, speech.duration)
            assert speech.words in normalized(wait_final(sandbox, DORA.id, voice).text)
            assert get(f"http://{listen}/healthz") == (200, "ok\n")
            status, metrics = get(f"http://{listen}/metrics")
            assert status == 200
            assert sample(metrics, "voicebot_jobs_total", outcome="done") == 1
            assert sample(metrics, "voicebot_queue_capacity") == 100
            assert sample(metrics, "voicebot_transcription_seconds_count") == 1
            assert sample(metrics, "voicebot_audio_seconds_sum") >= speech.duration - 1
            assert sample(metrics, "voicebot_telegram_call_seconds_count", method="sendMessage") >= 1
            assert sample(metrics, "voicebot_telegram_call_seconds_count", method="getUpdates") >= 1
            assert sample(metrics, "voicebot_database_seconds_count", operation="StoreIntake") >= 1
            assert sample(metrics, "voicebot_model_load_seconds_count") == 1
            assert sample(metrics, "voicebot_workers_ready") == 1

            source, _, seconds = speech_file
            long_one = sandbox.send_voice(DORA, audio_file(source, "ogg", tmp_path, repeat=4), seconds * 4)
            assert sandbox.wait_for(lambda: any(
                m.reply_to == long_one and m.text == ENGLISH_WORDING.PROCESSING for m in sandbox.messages(DORA.id)), 60)
            bot.process.terminate()   # the workers stop taking work; the running transcription finishes
            deadline = time.monotonic() + 30
            while get(f"http://{listen}/healthz")[0] != 503 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert get(f"http://{listen}/healthz") == (503, "unhealthy\n")
        finally:
            returncode, stderr = bot.stop()
        assert returncode == 0, stderr
