"""Names with and without /vocab, and what the buttons under a transcript cost (a benchmark, not a test).

    .venv/bin/python bench/buttons.py

One `voicebot run` against the sandbox. Twelve sentences with unusual names, made with espeak-ng, are sent as
voice notes by two users: one without a vocabulary, one who set the names with /vocab first. Each name's words
count as right when the transcript has them, spelled so (case and punctuation aside). Then German notes of about 2,
5 and 20 s are transcribed, and English and Subtitles are pressed under each: the time from the press to the
English text, and to both subtitle files, beside the time the transcript itself took.
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the config, the running bot)

from tests.helpers import normalized  # noqa: E402  (bench/run.py put the root on sys.path)
from tests.media import audio_file  # noqa: E402
from voicebot.adapters.audio import SAMPLE_RATE, decode  # noqa: E402
from voicebot.adapters.speech import synthesize  # noqa: E402
from voicebot.core.buttons import Action  # noqa: E402
from voicebot.core.replies import Wording  # noqa: E402
from voicebot.sandbox import BotApiSandbox, SandboxUser  # noqa: E402

ENGLISH_WORDING = Wording()   # what the bot says in English

# (sentence, the names in it): names chosen to be unusual for an English model, all made up here.
SENTENCES = [
    ("Please send the report to Siobhan Nakamura before Friday.", "Siobhan Nakamura"),
    ("Our new intern Aoife Okonkwo starts on Monday.", "Aoife Okonkwo"),
    ("The meeting with Doctor Przybylski moved to room nine.", "Przybylski"),
    ("Tell Xiomara that the Kubernetes cluster is down again.", "Xiomara Kubernetes"),
    ("Niamh and Tadhg are flying to Reykjavik tomorrow.", "Niamh Tadhg"),
    ("Thanks to Gwendolyn Achterberg for the lovely flowers.", "Gwendolyn Achterberg"),
    ("The package for Oluwaseun Adeyemi arrived this morning.", "Oluwaseun Adeyemi"),
    ("Ask Saoirse whether Grafana shows the latency spike.", "Saoirse Grafana"),
    ("Yevgeny Krzyzanowski will present the budget on Thursday.", "Yevgeny Krzyzanowski"),
    ("Mairead booked a table at Quaglino for eight people.", "Mairead Quaglino"),
    ("Please call Ngozi Eze about the Terraform migration.", "Ngozi Eze Terraform"),
    ("Dagny Haugland sends her regards from Trondheim.", "Dagny Haugland Trondheim"),
]
GERMAN = ["Guten Morgen, wie geht es dir?",
          "Heute ist ein schöner Tag, und wir gehen zusammen in den Park.",
          "Guten Morgen. Heute ist ein schöner Tag, und wir gehen zusammen in den Park. Am Wochenende fahren wir "
          "mit dem Zug nach Hamburg. Dort besuchen wir unsere Großeltern. Wir essen zusammen und gehen am Wasser "
          "spazieren. Am Sonntag fahren wir wieder nach Hause."]
PACE_SECONDS = 3.0   # idle before each press: the chat's allowance of about one message a second fills up again
PLAIN, WITH_VOCABULARY, PRESSER = SandboxUser(6101, "Pia"), SandboxUser(6102, "Vic"), SandboxUser(6103, "Gus")
LABELS = ENGLISH_WORDING.BUTTONS


def main() -> None:
    with tempfile.TemporaryDirectory() as temp, BotApiSandbox(bench.TOKEN) as sandbox:
        folder = Path(temp)
        notes = [note(folder, f"name{n}", sentence, "en") for n, (sentence, _) in enumerate(SENTENCES)]
        german = [note(folder, f"german{n}", sentence, "de") for n, sentence in enumerate(GERMAN)]
        with bench.running_bot(sandbox, folder):
            vocabulary = ", ".join(names for _, names in SENTENCES)
            command = sandbox.send_text(WITH_VOCABULARY, f"/vocab {vocabulary}")
            wait(lambda: reply(sandbox, WITH_VOCABULARY.id, command), "the answer to /vocab")
            report_names(sandbox, notes)
            report_actions(sandbox, german)


def note(folder: Path, name: str, sentence: str, voice: str) -> tuple[bytes, int]:
    """A voice note (OGG/Opus) of `sentence` spoken by espeak-ng, and its seconds."""
    (folder / f"{name}.wav").write_bytes(synthesize(sentence, voice=voice, words_per_minute=130))
    data = audio_file(folder / f"{name}.wav", "ogg", folder)
    return data, max(1, round(decode(data, max_seconds=600).size / SAMPLE_RATE))


def report_names(sandbox: BotApiSandbox, notes: list[tuple[bytes, int]]) -> None:
    right = {PLAIN.id: 0, WITH_VOCABULARY.id: 0}
    total = sum(len(names.split()) for _, names in SENTENCES)
    print(f"{'sentence':58} {'without /vocab':>15} {'with /vocab':>12}")
    for (sentence, names), (data, seconds) in zip(SENTENCES, notes, strict=True):
        heard = {}
        for user in (PLAIN, WITH_VOCABULARY):
            text = transcript_of(sandbox, user, sandbox.send_voice(user, data, seconds))
            words = set(normalized(text).split())
            found = sum(name in words for name in normalized(names).split())
            right[user.id] += found
            heard[user.id] = f"{found}/{len(names.split())}"
        print(f"{sentence[:58]:58} {heard[PLAIN.id]:>15} {heard[WITH_VOCABULARY.id]:>12}")
    print(f"names' words spelled right: without /vocab {right[PLAIN.id]} of {total} "
          f"({right[PLAIN.id] / total:.0%}), with /vocab {right[WITH_VOCABULARY.id]} of {total} "
          f"({right[WITH_VOCABULARY.id] / total:.0%})\n")


def report_actions(sandbox: BotApiSandbox, german: list[tuple[bytes, int]]) -> None:
    print(f"{'German note':12} {'transcript s':>13} {'English s':>10} {'Subtitles s':>12}")
    english_times, subtitle_times = [], []
    for data, seconds in german:
        sent = time.monotonic()
        voice = sandbox.send_voice(PRESSER, data, seconds)
        transcript_message = wait(lambda v=voice: final_reply(sandbox, PRESSER.id, v), "a transcript")
        transcribed = time.monotonic() - sent
        subtitles = timed_press(sandbox, transcript_message, Action.SUBTITLES,
                                lambda m=transcript_message: len(documents(sandbox, m)) == 2)
        english = timed_press(sandbox, transcript_message, Action.ENGLISH,
                              lambda m=transcript_message: final_reply(sandbox, PRESSER.id, m.message_id))
        english_times.append(english)
        subtitle_times.append(subtitles)
        print(f"{seconds:>10} s {transcribed:>13.2f} {english:>10.2f} {subtitles:>12.2f}")
    print(f"median: English {statistics.median(english_times):.2f} s, "
          f"Subtitles {statistics.median(subtitle_times):.2f} s")


def timed_press(sandbox: BotApiSandbox, message, action: Action, done) -> float:
    """Seconds from the press to what it gives, in a chat whose pace is not used up (Telegram's limit, which
    the sender keeps, would be measured otherwise)."""
    time.sleep(PACE_SECONDS)
    pressed = time.monotonic()
    sandbox.press_button(PRESSER, PRESSER.id, message.message_id, text=LABELS[action])
    wait(done, f"what {action.name} gives")
    return time.monotonic() - pressed


def transcript_of(sandbox: BotApiSandbox, user: SandboxUser, voice: int) -> str:
    return wait(lambda: final_reply(sandbox, user.id, voice), "a transcript").text


def final_reply(sandbox: BotApiSandbox, chat_id: int, message_id: int):
    return next((m for m in sandbox.messages(chat_id) if m.reply_to == message_id and m.text
                 and not ENGLISH_WORDING.is_status(m.text)), None)


def documents(sandbox: BotApiSandbox, message) -> list:
    return [m for m in sandbox.messages(message.chat_id) if m.reply_to == message.message_id and m.document]


def reply(sandbox: BotApiSandbox, chat_id: int, message_id: int):
    return next((m for m in sandbox.messages(chat_id) if m.reply_to == message_id), None)


def wait(found, what: str, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while not (result := found()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return result


if __name__ == "__main__":
    main()
