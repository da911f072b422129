"""The buttons under a finished transcript, the QuotaActor's third part: every press is answered (a notice
when it is refused), and what it asks for is done.

- English: Whisper's translate task on the same recording, fetched again by its file_id: a new job, stored
  as the intake stores recordings, admitted and charged to whoever pressed, answered in reply to the
  transcript.
- Subtitles: .srt and .vtt files made from the stored segments; no transcription, free.
- Timestamps: the transcript with [mm:ss] marks, edited in place, or sent in reply when it does not fit.

Callback data is checked first (see core.buttons): made-up data, or data copied from another chat or from under
another message, gets a notice and nothing else."""
import logging
from pathlib import PurePath

from actors.admission import Admission
from actors.messages import (
    ButtonPressed,
    JobStored,
    LoadRecording,
    RecordingLoaded,
    StoreJob,
    VoiceReceived,
)
from actors.users import ReplyAllowance
from voicebot.core import subtitles
from voicebot.core.buttons import Action, ButtonData, keyboard
from voicebot.core.calls import AnswerPress, EditButtons, EditText, SendDocument, SendText
from voicebot.core.domain import Job, JobKey, StoredRecording, Task
from voicebot.core.ports import Mailbox
from voicebot.core.replies import Wording
from voicebot.core.text import TELEGRAM_LIMIT, split_message

log = logging.getLogger(__name__)

MAX_FILE_STEM = 60   # of a subtitle file's name, taken from the recording's


class Buttons:
    def __init__(self, *, data: ButtonData, allowance: ReplyAllowance, admission: Admission, sender: Mailbox,
                 storage: Mailbox, quota: Mailbox):
        self._data = data
        self._allowance = allowance
        self._admission = admission
        self._sender = sender
        self._storage = storage
        self._quota = quota   # where the StorageActor's answers go
        self._waiting: dict[JobKey, list[LoadRecording]] = {}   # presses on answers not recorded yet

    def pressed(self, press: ButtonPressed, words: Wording) -> None:
        """Every press gets an answer, however many come: the user's app waits for it."""
        allowed = self._allowance.take(press.user_id)
        if not allowed:
            self._answer(press, words.SLOW_DOWN if allowed is False else None)
            return
        # Data is the sender's to choose; the buttons under the pressed message are Telegram's word. Only data
        # that is on one of them was pressed there, so data copied under another message acts nowhere.
        asked = self._data.read(press.chat_id, press.data) if press.data in press.message_buttons else None
        if asked is None:
            log.info("refused a press by user %s in chat %s: callback data this bot did not put under message %s",
                     press.user_id, press.chat_id, press.message_id)
            self._answer(press, words.BUTTON_INVALID)
            return
        load = LoadRecording(JobKey(press.chat_id, asked.message_id), press, asked, self._quota)
        if self._admission.under_way(load.key):
            # Its answer reached the user a moment before its delivery was reported here: once it is, the record
            # of it is on its way to the StorageActor ahead of this load.
            self._waiting.setdefault(load.key, []).append(load)
        else:
            self._storage.tell(load)

    def settled(self, key: JobKey) -> None:
        """The job `key` is settled: presses that waited for its record load it now."""
        for load in self._waiting.pop(key, ()):
            self._storage.tell(load)

    def loaded(self, loaded: RecordingLoaded, words: Wording) -> None:
        press, asked, recording = loaded.press, loaded.asked, loaded.recording
        if loaded.failed:
            self._answer(press, words.TRY_AGAIN)
        elif recording is None:
            self._answer(press, words.RECORDING_GONE)
        elif asked.action is Action.ENGLISH:
            self._translate(press, recording, words)
        elif recording.transcript is None:
            self._answer(press, words.TRANSCRIPT_NOT_KEPT)
        elif asked.action is Action.SUBTITLES:
            self._send_subtitles(press, recording)
        else:
            self._show_timestamps(press, recording, words)

    def stored(self, stored: JobStored, words: Wording) -> bool:
        """Answers the press that asked for the stored job; whether the job is new, and so to be admitted."""
        if stored.new:
            self._answer(stored.press, words.TRANSLATING)
        else:
            self._answer(stored.press, words.TRY_AGAIN if stored.failed else words.TRANSLATION_UNDER_WAY)
        return stored.new

    def _translate(self, press: ButtonPressed, recording: StoredRecording, words: Wording) -> None:
        # Its key is the transcript's message (the one pressed under): the English text replies to it.
        language = recording.transcript.language if recording.transcript else None
        job = Job(JobKey(press.chat_id, press.message_id), press.user_id, recording.media, language=language or None,
                  interface_language=words.language, thread_id=press.thread_id, task=Task.TRANSLATE)
        refusal = self._admission.press_refusal(job)
        if refusal is not None:
            self._answer(press, refusal)
            return
        self._storage.tell(StoreJob(VoiceReceived(job, press.in_group, requested=True), press, self._quota))

    def _send_subtitles(self, press: ButtonPressed, recording: StoredRecording) -> None:
        self._answer(press, None)   # first: the user's app waits for it, and the files take their chat's turn
        segments, stem = recording.transcript.segments, _file_stem(recording)
        for file_name, text in ((f"{stem}.srt", subtitles.srt(segments)), (f"{stem}.vtt", subtitles.webvtt(segments))):
            self._sender.tell(SendDocument(press.destination, file_name, text.encode()))

    def _show_timestamps(self, press: ButtonPressed, recording: StoredRecording, words: Wording) -> None:
        """In place when the pressed message holds the whole transcript and the marks still fit; else in reply,
        and the button goes."""
        self._answer(press, None)
        transcript = recording.transcript
        text = words.transcript(transcript, None, timestamps=True)
        buttons = keyboard(self._data, recording.key, recording.task, transcript, timestamps=True,
                           labels=words.BUTTONS)
        if press.message_text.startswith(transcript.text) and len(text) <= TELEGRAM_LIMIT:
            self._sender.tell(EditText(press.message, text, buttons))
        else:
            for part in split_message(text):
                self._sender.tell(SendText(press.destination, part))
            self._sender.tell(EditButtons(press.message, buttons))

    def _answer(self, press: ButtonPressed, text: str | None) -> None:
        self._sender.tell(AnswerPress(press.query_id, text))


def _file_stem(recording: StoredRecording) -> str:
    """The recording's own file name without its extension (a video's, say), else "subtitles"."""
    name = recording.media.file_name
    stem = PurePath(name).stem.strip() if name else ""
    return "".join(c for c in stem if c.isalnum() or c in " ._-")[:MAX_FILE_STEM].strip() or "subtitles"
