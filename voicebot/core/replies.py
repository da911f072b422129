"""Everything the bot says to users, in one place, in plain words, in the user's language.

A Wording is the bot's words in one language: it takes its texts from a gettext catalog (the English
msgids here are the source; `pybabel extract` collects them into voicebot/locales/voicebot.pot) and
formats numbers the way that language writes them. Every text is a whole sentence with named
placeholders, so that a translation can put the parts in its own order and plural forms. Wording() is the
English one, whose texts are the source."""
import gettext
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from voicebot.core.billing import Charge, Decline
from voicebot.core.buttons import Action
from voicebot.core.channels import ChannelStanding
from voicebot.core.domain import FailureReason, Transcript, UserSummary

UNCERTAIN_LANGUAGE_PROBABILITY = 0.5
ENGLISH = "en"


def _plain_number(value: float, decimals: int = 0) -> str:
    return f"{value:.{decimals}f}"


class Wording:
    """The bot's words in one language. `translations`: a gettext catalog (NullTranslations: the English
    source texts); `number`: how that language writes a number with so many decimals."""

    def __init__(self, language: str = ENGLISH, translations: gettext.NullTranslations | None = None,
                 number: Callable[[float, int], str] = _plain_number):
        self.language = language
        catalog = translations or gettext.NullTranslations()
        self._ = catalog.gettext
        self._n = catalog.ngettext
        self._number = number
        _ = self._
        self.PROCESSING = _("Processing…")
        self.QUEUED_PREFIX = _("Received. #")
        self.TEXT_ONLY = _("Send me a voice message, an audio file or a round video, and I will reply with its "
                           "text. /help shows the limits.")
        self.UNSUPPORTED = _("I can only transcribe voice messages, audio files and videos with sound. Send one "
                             "of those and I will reply with its text.")
        self.UNKNOWN_COMMAND = _("I don't know that command. /help lists what I can do.")
        self.BUSY = _("I'm busy with many messages right now. Please send it again in a minute.")
        self.NOT_STORED = _("I couldn't accept this file: something about it (its name or type, say) is more "
                            "than I can store. Please send it again as a voice message or with a shorter file "
                            "name.")
        self.SLOW_DOWN = _("That's a lot of messages at once. Please wait a few seconds before the next one.")
        self.TRANSCRIBE_HINT = _("Reply /transcribe to a voice message, audio file or video, and I will "
                                 "transcribe it.")
        self.AUTO_IN_GROUPS_ONLY = _("/auto is for groups: there it switches automatic transcription on or off.")
        self.ADMINS_ONLY = _("Only the group's admins can change that.")
        self.CHANNEL_USAGE = _("Usage, in a private chat with me: /channel off @channel stops me transcribing the "
                               "channel's voice posts, /channel on @channel starts again. Only its admins can.")
        self.ADMIN_USAGE = _("Usage: /grant ID, /revoke ID, /setquota ID SECONDS, /user ID (ID is a Telegram "
                             "user id).")
        self.TRANSCRIPT_FILE_CAPTION = _("The whole transcript as a file.")
        # The buttons under a transcript, and the short notices a press may get (at most 200 characters).
        self.BUTTONS = {Action.ENGLISH: _("🌐 English"), Action.SUBTITLES: _("🎬 Subtitles"),
                        Action.TIMESTAMPS: _("🕑 Timestamps")}
        self.BUTTON_INVALID = _("This button isn't valid here.")
        self.RECORDING_GONE = _("I no longer have this recording. Please send it again.")
        self.TRANSCRIPT_NOT_KEPT = _("This bot doesn't keep transcripts, so I can't make subtitles or timestamps "
                                     "for this one later.")
        self.TRANSLATING = _("Translating into English…")
        self.TRANSLATION_UNDER_WAY = _("The English text is on its way already.")
        self.TRY_AGAIN = _("I couldn't do that just now. Please try again in a minute.")
        # Guest mode: the bot summoned by a mention of its @username, in any chat.
        self.GUEST_HOW_TO = _("Mention me in reply to a voice message, audio file or video, and I will post its "
                              "text here.")
        self.GUEST_TRANSCRIPT_GONE = _("I don't have that transcript for you. Mention me under the recording "
                                       "again to get it.")
        # Business chats: the private chats of a user who connected the bot to their account.
        self.BUSINESS_USAGE = _("Usage, in a private chat with me: /business private sends you here the text of "
                                "voice messages others send you in your business chats, /business reply posts it "
                                "there as your reply, /business off stops; /business mine on|off: your own too.")
        self.BUSINESS_CANNOT_REPLY = _("You chose /business reply, but your connection doesn't let me reply in "
                                       "your chats, so I send the texts here. Give me that right in Telegram's "
                                       "settings, Business, Chatbots.")
        # What a reply's "Processing…" in an owner's chat becomes when it fails: why is said to the owner alone.
        self.BUSINESS_NOT_TRANSCRIBED = _("This voice message could not be transcribed.")
        self.BUSINESS_DISCONNECTED = _("Not transcribed: my connection to your account was turned off.")
        # Billing with Telegram Stars (core.billing).
        self.BUY_IN_PRIVATE = _("Minutes are sold in a private chat with me: send /buy there.")
        self.PAYSUPPORT_IN_PRIVATE = _("Your payments are listed in a private chat with me: send /paysupport there.")
        self.REFUND_USAGE = _("Usage: /refund CHARGE_ID (a payment's charge id, as /paysupport lists it).")
        self.NOT_CREDITED = _("Your payment arrived, but its invoice wasn't valid, so no minutes were added. The "
                              "operator will refund it; /paysupport says how to reach them.")
        self._declines = {
            Decline.INVALID: _("This invoice is not valid; send /buy for a new one."),
            Decline.NOT_YOURS: _("This invoice was made for someone else; send /buy for your own."),
            Decline.STALE: _("This invoice has expired; send /buy for a new one."),
            Decline.NOT_SOLD: _("This pack is no longer sold at this price; send /buy to see what is."),
            Decline.AMOUNT: _("The price doesn't match the invoice; send /buy for a new one."),
            Decline.OFF: _("Minutes are not for sale at the moment."),
        }
        self._failures = {
            FailureReason.UNREADABLE_AUDIO: _("I couldn't read this file as audio. Please send a voice message "
                                              "or an audio file (ogg, mp3, m4a, wav, flac) or a video with "
                                              "sound."),
            FailureReason.NO_SPEECH: _("I couldn't hear any speech in this recording."),
            FailureReason.DOWNLOAD_FAILED: _("I couldn't download this file from Telegram. Please send it again."),
            FailureReason.TIMEOUT: _("Transcribing this took too long, so I stopped. Please try a shorter "
                                     "recording."),
            FailureReason.INTERNAL: _("Something went wrong on my side while transcribing this. Please send it "
                                      "again."),
            FailureReason.WORKER_CRASHED: _("Transcribing this recording failed several times, so I gave up on "
                                            "it. Please try a different file or format."),
            FailureReason.BUSY: self.BUSY,
            FailureReason.OVER_QUOTA: _("This recording is longer than what is left of your daily limit, so I "
                                        "stopped. /usage shows what you have left and when it resets."),
        }

    # --- a job's status and answer --------------------------------------------------------------

    def queued(self, position: int, workers_online: bool = True) -> str:
        if not workers_online:
            return self._("Received. #%(position)s in queue. The transcription service is busy right now; your "
                          "message is saved and I'll transcribe it as soon as a worker is back.") % {
                "position": position}
        return self._("Received. #%(position)s in queue; I'll start as soon as a worker is free.") % {
            "position": position}

    def is_status(self, text: str) -> bool:
        """Whether a message of the bot's is still a job's status, not its answer."""
        return text.startswith((self.PROCESSING, self.QUEUED_PREFIX))

    def in_progress(self, text_so_far: str) -> str:
        return f"{self.PROCESSING}\n\n{text_so_far.strip()}"

    def transcript(self, result: Transcript, pinned_language: str | None, timestamps: bool) -> str:
        """The transcript as the user reads it: [mm:ss] marks if they asked for them, and the language
        when it is not the one they pinned or the detection was unsure. The words are never translated."""
        if timestamps and result.segments:
            text = "\n".join(f"[{_clock(segment.start)}] {segment.text.strip()}" for segment in result.segments)
        else:
            text = result.text
        if pinned_language is not None and result.language != pinned_language:
            text += "\n\n" + self._("(language: %(language)s)") % {"language": result.language}
        elif pinned_language is None and result.language_probability < UNCERTAIN_LANGUAGE_PROBABILITY:
            text += "\n\n" + self._("(language: %(language)s, detected with little certainty; /language pins "
                                    "it)") % {"language": result.language}
        return text

    def failure(self, reason: FailureReason, max_duration_seconds: int, max_file_mb: int) -> str:
        if reason is FailureReason.TOO_LONG:
            return self.too_long(None, max_duration_seconds)
        if reason is FailureReason.TOO_BIG:
            return self.too_big(None, max_file_mb)
        return self._failures[reason]

    # --- refusals ---------------------------------------------------------------------------------

    def too_long(self, duration: int | None, max_duration_seconds: int) -> str:
        limit = self.duration(max_duration_seconds)
        if duration:
            return self._("This recording is %(length)s long. I can transcribe up to %(limit)s.") % {
                "length": self.duration(duration), "limit": limit}
        return self._("This recording is too long. I can transcribe up to %(limit)s.") % {"limit": limit}

    def too_big(self, size_bytes: int | None, max_file_mb: int) -> str:
        if size_bytes:
            return self._("This file is %(size)s MB. I can take files up to %(limit)s MB.") % {
                "size": self._number(size_bytes / 1_000_000, 1), "limit": max_file_mb}
        return self._("This file is too big. I can take files up to %(limit)s MB.") % {"limit": max_file_mb}

    def rate_limited(self, wait_seconds: float) -> str:
        seconds = max(1, round(wait_seconds))
        return self._n("One recording at a time, please: send the next one in %(seconds)s s.",
                       "One recording at a time, please: send the next one in %(seconds)s s.",
                       seconds) % {"seconds": seconds}

    def quota_exceeded(self, left_seconds: float, daily_seconds: int, duration: int | None,
                       local_now: datetime, channel: bool = False) -> str:
        """`channel`: the allowance is a channel's, and this is a line under its post's caption."""
        values = {"left": self.duration(max(0.0, left_seconds)), "daily": self.duration(daily_seconds),
                  "length": self.duration(duration), "reset": self._reset(local_now)}
        if channel:
            return self._("Not transcribed: this channel has %(left)s of its daily %(daily)s left. %(reset)s") % values
        if duration:
            return self._("You have %(left)s of your daily %(daily)s left and this recording is %(length)s. "
                          "%(reset)s") % values
        return self._("You have %(left)s of your daily %(daily)s left. %(reset)s") % values

    # --- commands ---------------------------------------------------------------------------------

    def help_text(self, max_duration_seconds: int, max_file_mb: int, daily_seconds: int, rate_limit_seconds: int,
                  admin: bool = False, billing: bool = False) -> str:
        """`billing`: minutes are sold for Telegram Stars (/buy, /paysupport)."""
        text = self._(
            "I turn voice messages into text.\n\n"
            "Send or forward me a voice message, an audio file or a round video, and I reply with its transcript, "
            "right here. The buttons under it give it in English, as subtitles or with timestamps.\n\n"
            "In a group I transcribe voice messages as they come; admins can switch that to on request with "
            "/auto off, and then anyone can reply /transcribe to a recording.\n\n"
            "Limits: recordings up to %(longest)s and %(largest)s MB; %(daily)s of audio per day; one recording "
            "every %(rate)s s.\n\n"
            "/usage shows what you have used and have left today\n"
            "/language ru pins the language of your recordings (/language auto detects it again)\n"
            "/timestamps on adds [mm:ss] marks to transcripts\n"
            "/translate on sends your recordings back in English\n"
            "/vocab Siobhan, Nakamura: names and terms I should spell right\n"
            "/lang de answers you in German (/lang auto: in your Telegram app's language)\n"
            "/forget deletes your stored transcripts and history") % {
            "longest": self.duration(max_duration_seconds), "largest": max_file_mb,
            "daily": self.duration(daily_seconds), "rate": rate_limit_seconds}
        text += "\n\n" + self._(
            "Beyond this chat: reply to a voice message in any chat with my @username, and I post its text there. "
            "Connect me to your account (Settings, Telegram Business, Chatbots), and /business chooses where the "
            "text of voice messages sent to you goes. Make me an admin of your channel, and its voice posts get "
            "their text in the caption (/channel off @channel stops it).")
        if billing:
            text += "\n\n" + self._("/buy gets more minutes for Telegram Stars, used once the free ones of the day "
                                    "are spent; /paysupport: help with payments and refunds.")
        if admin:
            text += "\n\n" + self._("Admin: /grant ID (no daily limit), /revoke ID, /setquota ID SECONDS, /user ID")
        if admin and billing:
            text += "\n" + self._("/refund CHARGE_ID gives a payment's Stars back.")
        return text

    def usage(self, used_seconds: float, daily_seconds: int, unlimited: bool, summary: UserSummary | None,
              local_now: datetime) -> str:
        if unlimited:
            today = self._("Today you used %(used)s, with no daily limit.") % {"used": self.duration(used_seconds)}
        else:
            today = self._("Today you used %(used)s of %(daily)s; %(left)s left. %(reset)s") % {
                "used": self.duration(used_seconds), "daily": self.duration(daily_seconds),
                "left": self.duration(max(0.0, daily_seconds - used_seconds)), "reset": self._reset(local_now)}
        if summary is None:
            return today
        values = {"count": summary.transcriptions, "audio": self.duration(summary.total_seconds),
                  "failed": summary.failures,
                  "language": summary.language or self._("detected per message")}
        if summary.failures:
            total = self._n("In all: %(count)s transcription, %(audio)s of audio, %(failed)s failed (not charged); "
                            "language: %(language)s.",
                            "In all: %(count)s transcriptions, %(audio)s of audio, %(failed)s failed (not "
                            "charged); language: %(language)s.", summary.transcriptions) % values
        else:
            total = self._n("In all: %(count)s transcription, %(audio)s of audio; language: %(language)s.",
                            "In all: %(count)s transcriptions, %(audio)s of audio; language: %(language)s.",
                            summary.transcriptions) % values
        return f"{today}\n{total}"

    # --- billing with Telegram Stars ----------------------------------------------------------------

    def invoice_title(self, minutes: int) -> str:
        """At most 32 characters (Telegram's limit on an invoice's title)."""
        return self._n("%(n)s minute of transcription", "%(n)s minutes of transcription", minutes) % {"n": minutes}

    def invoice_description(self, minutes: int, expire_days: int) -> str:
        values = {"n": minutes, "days": expire_days}
        text = self._n("%(n)s minute of voice messages to text, used once your free minutes of the day are spent.",
                       "%(n)s minutes of voice messages to text, used once your free minutes of the day are spent.",
                       minutes) % values
        if expire_days:
            return text + " " + self._n("They expire %(days)s day after your latest purchase.",
                                        "They expire %(days)s days after your latest purchase.",
                                        expire_days) % values
        return text + " " + self._("They don't expire.")

    def invoice_label(self, minutes: int) -> str:
        return self._n("%(n)s min", "%(n)s min", minutes) % {"n": minutes}

    def buy_intro(self, bought_seconds: float) -> str:
        """Above the invoices /buy sends."""
        return self._("Your bought minutes: %(balance)s. They are used once your free minutes of the day are "
                      "spent. Pay with Telegram Stars under one of these:") % {
            "balance": self.duration(bought_seconds)}

    def declined(self, reason: Decline) -> str:
        """Why a payment is declined, as Telegram shows it to the payer."""
        return self._declines[reason]

    def receipt(self, stars: int, seconds: float, balance: float) -> str:
        return self._("%(stars)s ⭐ received: %(added)s added; your balance is %(balance)s. Thank you!") % {
            "stars": stars, "added": self.duration(seconds), "balance": self.duration(balance)}

    def bought_balance(self, seconds: float, until: datetime | None) -> str:
        """The line /usage adds about minutes bought with Stars."""
        values = {"balance": self.duration(seconds), "until": until.strftime("%Y-%m-%d") if until else ""}
        if until is not None and seconds > 0:
            return self._("Bought minutes left: %(balance)s, until %(until)s. /buy gets more.") % values
        return self._("Bought minutes left: %(balance)s. /buy gets more.") % values

    def paysupport(self, support: str, charges: tuple[Charge, ...] | None) -> str:
        """/paysupport: how to get help with a payment, what a refund does, and the user's latest payments."""
        text = self._("Help with payments: %(support)s.") % {"support": support} if support else self._(
            "Help with payments: write to the operator of this bot.")
        text += " " + self._("A payment can be refunded in full: the Stars go back to you, and the minutes of it "
                             "you haven't used are taken back (minutes already used stay used). Say which payment, "
                             "by its charge id.")
        if charges is None:
            return text + "\n\n" + self._("I couldn't read your payments just now. Please try again in a minute.")
        if not charges:
            return text + "\n\n" + self._("You haven't made any payments.")
        lines = [self._("%(date)s: %(stars)s ⭐ for %(minutes)s, charge id %(id)s%(refunded)s") % {
            "date": charge.paid_at.strftime("%Y-%m-%d"), "stars": charge.stars,
            "minutes": self.duration(charge.minutes * 60), "id": charge.charge_id,
            "refunded": " " + self._("(refunded)") if charge.refunded else ""} for charge in charges]
        return text + "\n\n" + self._("Your latest payments:") + "\n" + "\n".join(lines)

    def refunded(self, stars: int, taken: float, balance: float) -> str:
        """Told to the payer once a payment of theirs was refunded."""
        return self._("Your payment of %(stars)s ⭐ was refunded. %(taken)s of your unused bought minutes were "
                      "taken back (minutes already used stay used); your balance is %(balance)s.") % {
            "stars": stars, "taken": self.duration(taken), "balance": self.duration(balance)}

    def refund_done(self, charge_id: str, user_id: int, stars: int, taken: float) -> str:
        return self._("Refunded %(stars)s ⭐ of payment %(id)s to user %(user)s; %(taken)s of their bought minutes "
                      "were taken back.") % {"stars": stars, "id": charge_id, "user": user_id,
                                             "taken": self.duration(taken)}

    def refund_refused(self, charge_id: str, reason: str) -> str:
        return self._("Telegram refused to refund payment %(id)s: %(reason)s. Nothing was changed.") % {
            "id": charge_id, "reason": reason}

    def refund_unanswered(self, charge_id: str, reason: str) -> str:
        return self._("Telegram did not answer the refund of payment %(id)s (%(reason)s), so it may have been made "
                      "or not. If it was, it is recorded here when Telegram tells me; the operator can check with "
                      "voicebot billing reconcile before trying again.") % {"id": charge_id, "reason": reason}

    def refund_unknown(self, charge_id: str) -> str:
        return self._("There is no payment with charge id %(id)s.") % {"id": charge_id}

    def channel_switched(self, standing: ChannelStanding, on: bool, channel: str) -> str:
        """The answer to /channel on|off `channel`, once the Bot API said where the channel and its sender stand."""
        if standing is ChannelStanding.UNKNOWN:
            text = self._("I can't find the channel %(channel)s. Check its @username, and that I'm one of its admins.")
        elif standing is ChannelStanding.BOT_ABSENT:
            text = self._("I'm not an admin of %(channel)s. Make me one, with the right to edit messages, and I "
                          "transcribe its voice posts.")
        elif standing is ChannelStanding.NOT_ADMIN:
            text = self._("Only the admins of %(channel)s can change that.")
        elif on:
            text = self._("OK: I transcribe the voice posts of %(channel)s, in their captions.")
        else:
            text = self._("OK: I no longer transcribe the voice posts of %(channel)s. /channel on %(channel)s "
                          "starts again.")
        return text % {"channel": channel}

    def auto_mode(self, automatic: bool, changed: bool) -> str:
        if automatic:
            if changed:
                return self._("OK: now I transcribe every voice message in this group. Group admins can switch "
                              "with /auto on or /auto off.")
            return self._("I transcribe every voice message in this group. Group admins can switch with /auto on "
                          "or /auto off.")
        if changed:
            return self._("OK: now I transcribe only what you ask for: reply /transcribe to a recording. Group "
                          "admins can switch with /auto on or /auto off.")
        return self._("I transcribe only what you ask for: reply /transcribe to a recording. Group admins can "
                      "switch with /auto on or /auto off.")

    def timestamps(self, on: bool, changed: bool) -> str:
        if changed:
            return (self._("OK: Your transcripts come with [mm:ss] marks.") if on else
                    self._("OK: Your transcripts come without time marks."))
        return (self._("Your transcripts come with [mm:ss] marks. /timestamps on or /timestamps off changes it.")
                if on else
                self._("Your transcripts come without time marks. /timestamps on or /timestamps off changes it."))

    def translate(self, on: bool, changed: bool) -> str:
        if changed:
            return (self._("OK: your recordings come back in English.") if on else
                    self._("OK: your recordings come back in the language they are in."))
        return (self._("Your recordings come back in English. /translate on or /translate off changes it.") if on
                else self._("Your recordings come back in the language they are in. /translate on or /translate off "
                            "changes it."))

    def vocabulary_is(self, vocabulary: str | None, in_group: bool) -> str:
        if vocabulary:
            text = (self._("This group's vocabulary: %(words)s") if in_group else
                    self._("Your vocabulary: %(words)s")) % {"words": vocabulary}
            return text + "\n" + self._("/vocab clear clears it.")
        if in_group:
            return self._("This group has no vocabulary. Its admins can give me names and terms to spell right, "
                          "e.g. /vocab Siobhan, Kubernetes, Nakamura")
        return self._("You have no vocabulary. Give me names and terms to spell right, e.g. /vocab Siobhan, "
                      "Kubernetes, Nakamura")

    def vocabulary_set(self, vocabulary: str | None, in_group: bool) -> str:
        if vocabulary is None:
            return (self._("OK: this group's vocabulary is cleared.") if in_group else
                    self._("OK: your vocabulary is cleared."))
        return (self._("OK: in this group I spell these as written: %(words)s") if in_group else
                self._("OK: I spell these as you wrote them: %(words)s")) % {"words": vocabulary}

    def vocabulary_too_long(self, limit: int) -> str:
        return self._("That is too long: a vocabulary can have up to %(limit)s characters. Keep the names and terms "
                      "that matter most.") % {"limit": limit}

    def forgotten(self, removed: int | None) -> str:
        if removed is None:
            return self._("I couldn't delete your history just now. Please try again in a minute.")
        return self._("Done: I deleted your stored transcripts and history. I keep only today's seconds used, "
                      "which your daily limit needs.")

    def language_is(self, language: str | None) -> str:
        if language:
            return self._("Your language is pinned to %(language)s. Pin one with /language CODE, e.g. /language de; "
                          "/language auto detects.") % {"language": language}
        return self._("Your language is detected per message. Pin one with /language CODE, e.g. /language de; "
                      "/language auto detects.")

    def unknown_language(self, wanted: str, known: Iterable[str]) -> str:
        shown = wanted if len(wanted) <= 16 else wanted[:16] + "…"   # the reply must stay within Telegram's limit
        return self._("I don't know the language code %(code)s. Codes I know: %(known)s; or auto.") % {
            "code": repr(shown), "known": ", ".join(known)}

    def language_set(self, language: str | None) -> str:
        if language is None:
            return self._("OK: I will detect the language of each recording.")
        return self._("OK: I will transcribe your recordings as %(language)s.") % {"language": language}

    def interface_chosen(self, automatic: bool, in_group: bool) -> str:
        """The answer to /lang CODE (said in the language chosen: "English" is each catalog's own name), or
        to /lang auto."""
        if automatic:
            return (self._("OK: I answer in the language of each person's Telegram app.") if in_group else
                    self._("OK: I answer you in your Telegram app's language."))
        return self._("OK: I answer in English in this group.") if in_group else self._("OK: I answer you in English.")

    def interface_languages(self, known: Iterable[str]) -> str:
        """The answer to /lang alone, or with a code the bot has no catalog for."""
        return self._("I can answer in: %(known)s. /lang CODE chooses one, /lang auto follows your Telegram "
                      "app.") % {"known": ", ".join(known)}

    def user_changed(self, user_id: int, unlimited: bool, daily_seconds: int) -> str:
        if unlimited:
            return self._("User %(user)s now has no daily limit.") % {"user": user_id}
        return self._("User %(user)s now has a daily limit of %(daily)s.") % {
            "user": user_id, "daily": self.duration(daily_seconds)}

    # --- Telegram's own menus ---------------------------------------------------------------------

    def commands(self, billing: bool = False) -> list[tuple[str, str]]:
        """The command list the Telegram app shows: (command, what it does); `billing`: with /buy and /paysupport,
        which Telegram asks of a bot that sells."""
        sold = [("buy", self._("more minutes for Telegram Stars")),
                ("paysupport", self._("help with payments and refunds"))] if billing else []
        return [("help", self._("what I do and my limits")), *sold,
                ("usage", self._("what you used and have left today")),
                ("language", self._("pin the language of your recordings")),
                ("timestamps", self._("[mm:ss] marks in transcripts")),
                ("translate", self._("transcripts in English")),
                ("vocab", self._("names and terms to spell right")),
                ("lang", self._("the language I answer you in")),
                ("forget", self._("delete your stored transcripts")),
                ("business", self._("where voice messages from your business chats go")),
                ("channel", self._("on or off for a channel you administer")),
                ("transcribe", self._("in reply to a recording: transcribe it"))]

    def business_is(self, mode: str, mine: bool, connection: tuple[bool, bool] | None, changed: bool) -> str:
        """The answer to /business: where recordings in the user's business chats are answered (`mode`), whether
        their own are, and their connection: None (none), else (enabled, may do what `mode` asks)."""
        if mode == "reply":
            where = self._("I post the text of voice messages others send you in your business chats there, as "
                           "your reply.")
        elif mode == "off":
            where = self._("I don't transcribe voice messages in your business chats.")
        else:
            where = self._("I send you here the text of voice messages others send you in your business chats.")
        own = (self._("Your own voice messages there too (/business mine off stops that).") if mine else
               self._("Not your own voice messages there (/business mine on)."))
        if connection is None:
            state = self._("No account of yours is connected to me: connect me in Telegram's settings, Business, "
                           "Chatbots.")
        elif not connection[0]:
            state = self._("Your connection to me is off: turn it on in Telegram's settings, Business, Chatbots.")
        elif not connection[1]:
            state = self._("Your connection doesn't let me reply in your chats, so I send the texts here.")
        else:
            state = ""
        return " ".join(part for part in (self._("OK.") if changed else "", where, own, state) if part)

    def business_header(self, sender: str, chat: str) -> str:
        """The line above a business chat's transcript sent to its owner: who sent the recording, and where."""
        return self._("🎙 From %(sender)s, in your chat with %(chat)s:") % {"sender": sender, "chat": chat}

    def guest_rest(self, link: str) -> str:
        """Said at the end of a guest post cut short: where the whole text is."""
        return self._("The whole text is in my private chat: {link}").format(link=link)

    def description(self) -> str:
        return self._("Send me a voice message, an audio file or a video, and I reply with its text. "
                      "Transcribed on my own machine: no audio leaves it.") + "\n\n" + self._(
            "In any chat, mention me in reply to a voice message, and I post its text there.")

    def short_description(self) -> str:
        return self._("Voice messages to text, privately.")

    # --- parts ------------------------------------------------------------------------------------

    def duration(self, seconds: float | None) -> str:
        seconds = int(round(seconds or 0))
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        parts = [self._n("%(n)s h", "%(n)s h", hours) % {"n": hours} if hours else "",
                 self._n("%(n)s min", "%(n)s min", minutes) % {"n": minutes} if minutes else "",
                 self._n("%(n)s s", "%(n)s s", secs) % {"n": secs} if secs else ""]
        return " ".join(part for part in parts if part) or self._n("%(n)s s", "%(n)s s", 0) % {"n": 0}

    def _reset(self, local_now: datetime) -> str:
        midnight = (local_now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        # Aware datetimes in one zone subtract as wall-clock times: compare in UTC for real time.
        minutes_left = max(1, round((midnight.astimezone(UTC) - local_now.astimezone(UTC)).total_seconds() / 60))
        return self._("It resets at 00:00 %(zone)s, in %(left)s.") % {
            "zone": local_now.tzinfo, "left": self.duration(minutes_left * 60)}


def _clock(seconds: float) -> str:
    """mm:ss, the minutes going on past an hour; a time that is no finite number, or before 0, shows as 00:00."""
    minutes, secs = divmod(int(seconds) if math.isfinite(seconds) and seconds > 0 else 0, 60)
    return f"{minutes:02d}:{secs:02d}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class Languages:
    """The wordings the bot has, by language code, and which one a user is answered in."""

    def __init__(self, wordings: Iterable[Wording] = ()):
        self._wordings = {wording.language: wording for wording in wordings}
        self._wordings.setdefault(ENGLISH, Wording())

    @property
    def codes(self) -> list[str]:
        return sorted(self._wordings)

    def __contains__(self, code: str | None) -> bool:
        return code in self._wordings

    def __getitem__(self, code: str | None) -> Wording:
        """The wording for a language code as Telegram sends it ("pt-br" -> "pt"); English when there is none."""
        return self._wordings[self.catalog_for(code) or ENGLISH]

    def catalog_for(self, code: str | None) -> str | None:
        """The catalog a language code as Telegram sends it falls under (its first two letters), or None."""
        letters = _two_letters(code)
        return letters if code and letters in self._wordings else None

    def __iter__(self):
        return iter(self._wordings.values())

    def is_status(self, text: str) -> bool:
        return any(wording.is_status(text) for wording in self._wordings.values())


def _two_letters(code: str | None) -> str:
    return (code or ENGLISH)[:2].lower()

