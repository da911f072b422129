"""Everything the bot says to users, in one place, in plain words."""
from datetime import UTC, datetime, timedelta

from voicebot.core.domain import FailureReason, Transcript, UserSummary

PROCESSING = "Processing…"
UNCERTAIN_LANGUAGE_PROBABILITY = 0.5
TEXT_ONLY = ("Send me a voice message, an audio file or a round video, and I will reply with its text. "
             "/help shows the limits.")
UNSUPPORTED = ("I can only transcribe voice messages, audio files and videos with sound. "
               "Send one of those and I will reply with its text.")
UNKNOWN_COMMAND = "I don't know that command. /help lists what I can do."
BUSY = "I'm busy with many messages right now. Please send it again in a minute."
NOT_STORED = ("I couldn't accept this file: something about it (its name or type, say) is more than I can "
              "store. Please send it again as a voice message or with a shorter file name.")
SLOW_DOWN = "That's a lot of messages at once. Please wait a few seconds before the next one."
TRANSCRIBE_HINT = "Reply /transcribe to a voice message, audio file or video, and I will transcribe it."
AUTO_IN_GROUPS_ONLY = "/auto is for groups: there it switches automatic transcription on or off."
ADMINS_ONLY = "Only the group's admins can change that."
ADMIN_USAGE = "Usage: /grant ID, /revoke ID, /setquota ID SECONDS, /user ID (ID is a Telegram user id)."

_FAILURES = {
    FailureReason.UNREADABLE_AUDIO: "I couldn't read this file as audio. Please send a voice message or "
                                    "an audio file (ogg, mp3, m4a, wav, flac) or a video with sound.",
    FailureReason.NO_SPEECH: "I couldn't hear any speech in this recording.",
    FailureReason.DOWNLOAD_FAILED: "I couldn't download this file from Telegram. Please send it again.",
    FailureReason.TIMEOUT: "Transcribing this took too long, so I stopped. Please try a shorter recording.",
    FailureReason.INTERNAL: "Something went wrong on my side while transcribing this. Please send it again.",
    FailureReason.WORKER_CRASHED: "Transcribing this recording failed several times, so I gave up on it. "
                                  "Please try a different file or format.",
    FailureReason.BUSY: BUSY,
    FailureReason.OVER_QUOTA: "This recording is longer than what is left of your daily limit, so I stopped. "
                              "/usage shows what you have left and when it resets.",
}


QUEUED_PREFIX = "Received. #"


def queued(position: int, workers_online: bool = True) -> str:
    if not workers_online:
        return (f"{QUEUED_PREFIX}{position} in queue. The transcription service is busy right now; your message "
                f"is saved and I'll transcribe it as soon as a worker is back.")
    return f"{QUEUED_PREFIX}{position} in queue; I'll start as soon as a worker is free."


def is_status(text: str) -> bool:
    """Whether a message of the bot's is still a job's status, not its answer."""
    return text.startswith((PROCESSING, QUEUED_PREFIX))


def in_progress(text_so_far: str) -> str:
    return f"{PROCESSING}\n\n{text_so_far.strip()}"


def transcript(result: Transcript, pinned_language: str | None, timestamps: bool) -> str:
    """The transcript as the user reads it: [mm:ss] marks if they asked for them, and the
    language when it is not the one they pinned or the detection was unsure."""
    if timestamps and result.segments:
        text = "\n".join(f"[{_clock(segment.start)}] {segment.text.strip()}" for segment in result.segments)
    else:
        text = result.text
    if pinned_language is not None and result.language != pinned_language:
        text += f"\n\n(language: {result.language})"
    elif pinned_language is None and result.language_probability < UNCERTAIN_LANGUAGE_PROBABILITY:
        text += f"\n\n(language: {result.language}, detected with little certainty; /language pins it)"
    return text


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def help_text(max_duration_seconds: int, max_file_mb: int, daily_seconds: int, rate_limit_seconds: int,
              admin: bool = False) -> str:
    text = (
        "I turn voice messages into text.\n\n"
        "Send or forward me a voice message, an audio file or a round video, and I reply with "
        "its transcript, right here.\n\n"
        "In a group I transcribe voice messages as they come; admins can switch that to on request "
        "with /auto off, and then anyone can reply /transcribe to a recording.\n\n"
        f"Limits: recordings up to {_duration(max_duration_seconds)} and {max_file_mb} MB; "
        f"{_duration(daily_seconds)} of audio per day; one recording every {rate_limit_seconds} s.\n\n"
        "/usage shows what you have used and have left today\n"
        "/language ru pins the language of your recordings (/language auto detects it again)\n"
        "/timestamps on adds [mm:ss] marks to transcripts\n"
        "/forget deletes your stored transcripts and history"
    )
    if admin:
        text += "\n\nAdmin: /grant ID (no daily limit), /revoke ID, /setquota ID SECONDS, /user ID"
    return text


def failure(reason: FailureReason, max_duration_seconds: int, max_file_mb: int) -> str:
    if reason is FailureReason.TOO_LONG:
        return too_long(None, max_duration_seconds)
    if reason is FailureReason.TOO_BIG:
        return too_big(None, max_file_mb)
    return _FAILURES[reason]


def too_long(duration: int | None, max_duration_seconds: int) -> str:
    actual = f"is {_duration(duration)} long" if duration else "is too long"
    return f"This recording {actual}. I can transcribe up to {_duration(max_duration_seconds)}."


def too_big(size_bytes: int | None, max_file_mb: int) -> str:
    actual = f"is {size_bytes / 1_000_000:.1f} MB" if size_bytes else "is too big"
    return f"This file {actual}. I can take files up to {max_file_mb} MB."


def rate_limited(wait_seconds: float) -> str:
    return f"One recording at a time, please: send the next one in {max(1, round(wait_seconds))} s."


def quota_exceeded(left_seconds: float, daily_seconds: int, duration: int | None, local_now: datetime) -> str:
    needed = f" and this recording is {_duration(duration)}" if duration else ""
    return (f"You have {_duration(max(0.0, left_seconds))} of your daily {_duration(daily_seconds)} left{needed}. "
            f"{_reset(local_now)}")


def usage(used_seconds: float, daily_seconds: int, unlimited: bool, summary: UserSummary | None,
          local_now: datetime) -> str:
    if unlimited:
        today = f"Today you used {_duration(used_seconds)}, with no daily limit."
    else:
        left = max(0.0, daily_seconds - used_seconds)
        today = (f"Today you used {_duration(used_seconds)} of {_duration(daily_seconds)}; "
                 f"{_duration(left)} left. {_reset(local_now)}")
    if summary is None:
        return today
    count = f"{summary.transcriptions} transcription{'' if summary.transcriptions == 1 else 's'}"
    return (f"{today}\nIn all: {count}, {_duration(summary.total_seconds)} of audio"
            f"{f', {summary.failures} failed (not charged)' if summary.failures else ''}; "
            f"language: {summary.language or 'detected per message'}.")


def auto_mode(automatic: bool, changed: bool) -> str:
    state = ("I transcribe every voice message in this group" if automatic
             else "I transcribe only what you ask for: reply /transcribe to a recording")
    return f"{'OK: now ' if changed else ''}{state}. Group admins can switch with /auto on or /auto off."


def timestamps(on: bool, changed: bool) -> str:
    state = "with [mm:ss] marks" if on else "without time marks"
    hint = "" if changed else " /timestamps on or /timestamps off changes it."
    return f"{'OK: ' if changed else ''}Your transcripts come {state}.{hint}"


def forgotten(removed: int | None) -> str:
    if removed is None:
        return "I couldn't delete your history just now. Please try again in a minute."
    return ("Done: I deleted your stored transcripts and history. I keep only today's seconds used, "
            "which your daily limit needs.")


def language_is(language: str | None) -> str:
    current = f"pinned to {language}" if language else "detected per message"
    return f"Your language is {current}. Pin one with /language CODE, e.g. /language de; /language auto detects."


def unknown_language(wanted: str, known: list[str]) -> str:
    shown = wanted if len(wanted) <= 16 else wanted[:16] + "…"   # the reply must stay within Telegram's limit
    return f"I don't know the language code {shown!r}. Codes I know: {', '.join(known)}; or auto."


def language_set(language: str | None) -> str:
    if language is None:
        return "OK: I will detect the language of each recording."
    return f"OK: I will transcribe your recordings as {language}."


def user_changed(user_id: int, unlimited: bool, daily_seconds: int) -> str:
    limit = "no daily limit" if unlimited else f"a daily limit of {_duration(daily_seconds)}"
    return f"User {user_id} now has {limit}."


def _reset(local_now: datetime) -> str:
    midnight = (local_now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    # Aware datetimes in one zone subtract as wall-clock times: compare in UTC for real time.
    minutes_left = max(1, round((midnight.astimezone(UTC)
                                 - local_now.astimezone(UTC)).total_seconds() / 60))
    return f"It resets at 00:00 {local_now.tzinfo}, in {_duration(minutes_left * 60)}."


def _duration(seconds: float | None) -> str:
    seconds = int(round(seconds or 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(part for part in parts if part) or "0 s"


def utc_now() -> datetime:
    return datetime.now(UTC)
