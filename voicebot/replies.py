"""Everything the bot says to users, in one place, in plain words."""
from datetime import datetime, timedelta, timezone

from voicebot.domain import FailureReason

PROCESSING = "Processing…"
TEXT_ONLY = ("Send me a voice message, an audio file or a round video, and I will reply with its text. "
             "/help shows the limits.")
UNSUPPORTED = ("I can only transcribe voice messages, audio files and videos with sound. "
               "Send one of those and I will reply with its text.")
UNKNOWN_COMMAND = "I don't know that command. /help lists what I can do."
BUSY = "I'm busy with many messages right now. Please send it again in a minute."

_FAILURES = {
    FailureReason.UNREADABLE_AUDIO: "I couldn't read this file as audio. Please send a voice message or "
                                    "an audio file (ogg, mp3, m4a, wav, flac) or a video with sound.",
    FailureReason.NO_SPEECH: "I couldn't hear any speech in this recording.",
    FailureReason.DOWNLOAD_FAILED: "I couldn't download this file from Telegram. Please send it again.",
    FailureReason.TIMEOUT: "Transcribing this took too long, so I stopped. Please try a shorter recording.",
    FailureReason.INTERNAL: "Something went wrong on my side while transcribing this. Please send it again.",
    FailureReason.BUSY: BUSY,
}


def help_text(max_duration_seconds: int, max_file_mb: int, daily_seconds: int, rate_limit_seconds: int) -> str:
    return (
        "I turn voice messages into text.\n\n"
        "Send or forward me a voice message, an audio file or a round video, and I reply with "
        "its transcript, right here.\n\n"
        f"Limits: recordings up to {_duration(max_duration_seconds)} and {max_file_mb} MB; "
        f"{_duration(daily_seconds)} of audio per day; one recording every {rate_limit_seconds} s.\n"
        "Commands: /help shows this, /usage shows what you have left today."
    )


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


def quota_exceeded(left_seconds: float, daily_seconds: int, duration: int | None, now: datetime) -> str:
    needed = f" and this recording is {_duration(duration)}" if duration else ""
    return (f"You have {_duration(left_seconds)} of your daily {_duration(daily_seconds)} left{needed}. "
            f"{_reset(now)}")


def usage(used_seconds: float, daily_seconds: int, now: datetime) -> str:
    left = max(0.0, daily_seconds - used_seconds)
    return (f"Today you used {_duration(used_seconds)} of {_duration(daily_seconds)}; "
            f"{_duration(left)} left. {_reset(now)}")


def _reset(now: datetime) -> str:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    minutes_left = max(1, round((midnight - now).total_seconds() / 60))
    return f"It resets at 00:00 UTC, in {_duration(minutes_left * 60)}."


def _duration(seconds: float | None) -> str:
    seconds = int(round(seconds or 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(part for part in parts if part) or "0 s"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
