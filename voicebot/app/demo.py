"""`voicebot demo`: the whole bot against a local Bot API sandbox, offline and without a token.

Three users talk to the bot at once with voice notes synthesized on the spot, one of them in Russian; the
conversation is printed as they would see it, with the time each line appeared."""
import sys
import tempfile
import time
from dataclasses import dataclass

from voicebot.adapters.audio import to_voice_note
from voicebot.adapters.speech import synthesize
from voicebot.adapters.translations import load_languages
from voicebot.app.bootstrap import bot_node
from voicebot.app.config import Settings, worker_count
from voicebot.app.logs import configure_logging
from voicebot.app.node import StartupError
from voicebot.core.errors import SpeechError
from voicebot.sandbox import BotApiSandbox, SandboxEvent, SandboxUser

LANGUAGES = load_languages()   # a status in any of them is no answer yet
DEMO_TOKEN = "123456:demo-token-for-the-local-sandbox"
TRANSCRIPT_TIMEOUT_SECONDS = 300
# Boris's Telegram app is in Russian, and so is everything the bot tells him; his transcript is in the
# language he speaks. (English for all three: espeak-ng's Russian is more than the small bundled model
# can make out.)
SCRIPT = (
    (SandboxUser(1001, "Alice"), "Hello! Please remind me to buy milk and bread tomorrow morning."),
    (SandboxUser(1002, "Борис", language_code="ru"), "The meeting starts at ten o clock in the main office."),
    (SandboxUser(1003, "Chloe"), "Thank you for the lovely dinner last night."),
)


@dataclass(frozen=True)
class SentVoice:
    user: SandboxUser
    message_id: int
    sent_at: float


def run_demo(settings: Settings) -> int:
    configure_logging("WARNING", [DEMO_TOKEN])
    try:
        voices = [(user, *to_voice_note(synthesize(text))) for user, text in SCRIPT]
    except SpeechError as error:
        print(f"voicebot demo: {error}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as workdir, BotApiSandbox(DEMO_TOKEN) as sandbox:
        settings = settings.replace(
            telegram={"api_url": sandbox.url, "token": DEMO_TOKEN, "poll_timeout_seconds": 1},
            database={"url": f"sqlite:///{workdir}/demo.db"})
        try:
            return _play(settings, sandbox, voices)
        except StartupError as error:
            print(f"voicebot demo: {error}", file=sys.stderr)
            return 1


def _play(settings: Settings, sandbox: BotApiSandbox, voices: list) -> int:
    whisper = settings.whisper
    print(f"voicebot demo: Bot API sandbox at {sandbox.url}; model {whisper.model} ({whisper.compute_type}), "
          f"{worker_count(settings)} transcription workers")
    started = time.monotonic()
    bot = bot_node(settings)
    bot.start()
    print(f"bot ready in {time.monotonic() - started:.1f} s (models loaded and warmed up)\n")
    names = {user.id: user.first_name for user, *_ in voices}
    origin = time.monotonic()
    answered: dict[int, float] = {}   # chat -> when its transcript arrived
    sandbox.add_listener(lambda event: _print_event(event, names, origin))
    try:
        alice, boris = voices[0][0], voices[1][0]
        _converse(sandbox, alice, "/start")
        _converse(sandbox, boris, "/start")
        sandbox.add_listener(lambda event: _note_answer(event, answered))
        sent = [SentVoice(user, sandbox.send_voice(user, data, duration), time.monotonic())
                for user, data, duration in voices]
        delivered = sandbox.wait_for(lambda: all(_transcript(sandbox, voice) for voice in sent),
                                     TRANSCRIPT_TIMEOUT_SECONDS)
        _converse(sandbox, alice, "/usage")
    finally:
        bot.stop()
    print()
    for voice in sent:
        arrived = answered.get(voice.user.id)
        took = f"{arrived - voice.sent_at:.1f} s" if arrived and _transcript(sandbox, voice) else "missing"
        print(f"{voice.user.first_name}: transcript after {took}")
    return 0 if delivered else 1


def _converse(sandbox: BotApiSandbox, user: SandboxUser, text: str) -> None:
    message_id = sandbox.send_text(user, text)
    sandbox.wait_for(lambda: any(message.reply_to == message_id for message in sandbox.messages(user.id)), 30)


def _transcript(sandbox: BotApiSandbox, voice: SentVoice) -> str | None:
    for message in sandbox.messages(voice.user.id):
        if message.reply_to == voice.message_id and message.text and not LANGUAGES.is_status(message.text):
            return message.text
    return None


def _note_answer(event: SandboxEvent, answered: dict[int, float]) -> None:
    if event.kind in ("bot_message", "bot_edit") and not LANGUAGES.is_status(event.text):
        answered.setdefault(event.chat_id, event.at)   # a voice's transcript comes before the /usage reply


def _print_event(event: SandboxEvent, names: dict[int, str], origin: float) -> None:
    name = names.get(event.chat_id, str(event.chat_id))
    arrow = {"user_text": f"{name} →", "user_media": f"{name} →", "bot_message": f"bot → {name}:",
             "bot_edit": f"bot ✎ {name}:", "bot_document": f"bot → {name} (file):"}.get(event.kind)
    if arrow is None:
        return
    text = event.text.replace("\n", "\n" + " " * 12)
    print(f"[{event.at - origin:6.2f} s] {arrow} {text}", flush=True)
