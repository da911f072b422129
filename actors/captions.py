"""CaptionBook: the answer book's part for channel posts (a job whose destination is a ChannelCaption). The post
is the job's status message: its caption says "Processing…" under its author's caption while the job runs, and
then the transcript when the two fit in a caption, the author's formatting kept in every edit. A longer result
puts the caption back as its author wrote it (if a status changed it) and goes as comments (replies to the
post's forward in the channel's discussion group), or as reply posts in a channel without one. No buttons: a
channel's readers are no users of the bot's. A part of the TelegramSender, not an actor.

As in the chat path, a job has at most one call waiting in the outbox at a time. Every caption edit is a whole
caption, so a job resumed after a restart edits the post into what it should say (an edit that changes nothing
counts as made), never posting twice."""
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from actors.messages import DeliverResult, JobFailed, PostStatus, ResultDelivered
from actors.outbox import Made, Outbox, Outcome, Posting
from voicebot.core.calls import ChannelCaption, Destination, EditCaption, SendDocument, SendText
from voicebot.core.captions import caption_with
from voicebot.core.domain import FailureReason, JobKey
from voicebot.core.text import split_message

log = logging.getLogger(__name__)

TRANSCRIPT_FILE_NAME = "transcript.txt"
COMMENT_LINKS_KEPT = 1000   # discussion forwards seen before their post's job reached the book, at most


@dataclass
class _Post:
    """What the book knows of one channel post's answer."""
    to: ChannelCaption
    waiting: Posting | None = None      # the job's call waiting in the outbox
    wanted: str | None = None           # the status to show once that call is made
    result: DeliverResult | None = None
    shown: bool = False                 # a status was put under the caption: it is put back before comments


class CaptionBook:
    def __init__(self, outbox: Outbox):
        self._outbox = outbox
        self._posts: dict[JobKey, _Post] = {}
        self._comments: OrderedDict[JobKey, Destination] = OrderedDict()   # learned from discussion forwards

    def __contains__(self, key: JobKey) -> bool:
        return key in self._posts

    def comments_at(self, key: JobKey, comments: Destination) -> None:
        """The post `key` was forwarded into its channel's discussion group: comments on it reply there."""
        post = self._posts.get(key)
        if post is not None:
            post.to = dataclasses.replace(post.to, comments=comments)
            return
        self._comments[key] = comments
        if len(self._comments) > COMMENT_LINKS_KEPT:
            self._comments.popitem(last=False)

    def post_status(self, message: PostStatus) -> None:
        to = message.to
        comments = self._comments.pop(message.key, None) or to.comments
        post = self._posts.setdefault(message.key, _Post(to))
        post.to = dataclasses.replace(to, comments=comments or post.to.comments)
        self.show(message.key, message.text)

    def show(self, key: JobKey, text: str) -> None:
        """The post's caption says `text` under its author's (or will, once the job's call before it is made);
        a status with no room there is not shown."""
        post = self._posts.get(key)
        if post is None or post.result is not None:
            return
        if post.waiting is not None:
            post.wanted = text
            return
        caption = caption_with(post.to.caption, text)
        if caption is not None:
            self._post(post, Posting(self._edit(post, caption), partial(self._status_edited, key)))

    def deliver(self, result: DeliverResult) -> None:
        post = self._posts[result.key]
        post.result, post.wanted = result, None
        if post.waiting is not None and self._outbox.withdraw(post.waiting):
            post.waiting = None   # a status not shown yet: the result supersedes it
        if post.waiting is None:
            for posting in self._answer(result.key):
                self._post(post, posting)

    def _post(self, post: _Post, posting: Posting) -> None:
        post.waiting = posting
        self._outbox.post(posting)

    def _status_edited(self, key: JobKey, outcome: Outcome) -> Sequence[Posting]:
        """After a status edit (made or not: a post the bot may no longer edit still gets its answer, as a reply):
        the result if it waited, else the newest status wanted meanwhile."""
        post = self._posts[key]
        post.waiting = None
        post.shown = post.shown or isinstance(outcome, Made)
        if post.result is not None:
            return self._answer(key)
        wanted, post.wanted = post.wanted, None
        caption = None if wanted is None else caption_with(post.to.caption, wanted)
        if caption is None:
            return ()
        post.waiting = Posting(self._edit(post, caption), partial(self._status_edited, key))
        return (post.waiting,)

    @staticmethod
    def _edit(post: _Post, caption: str) -> EditCaption:
        """The post's caption made `caption`, its author's formatting kept (their words are its start)."""
        return EditCaption(post.to.post, caption, entities=post.to.entities)

    # --- a result's route: into the caption when it fits; else the caption as its author wrote it (if a status
    # changed it), and the result as comments (or reply posts); a caption the bot may not edit gets the result
    # as reply posts. A caption past the limit (a Premium author's) is never edited: Telegram would refuse it.

    def _answer(self, key: JobKey) -> Sequence[Posting]:
        post = self._posts[key]
        caption = caption_with(post.to.caption, post.result.text)
        if caption is not None and not post.result.as_file:
            return (Posting(self._edit(post, caption), partial(self._caption_edited, key)),)
        if not post.shown:
            return self._elsewhere(key, post.to.comments)
        return (Posting(self._edit(post, post.to.caption), lambda _: self._elsewhere(key, post.to.comments)),)

    def _caption_edited(self, key: JobKey, outcome: Outcome) -> Sequence[Posting]:
        if isinstance(outcome, Made):
            return self._report(key, delivered=True)
        log.info("channel post %s/%s: its caption could not be edited; answered in a reply post", key.chat_id,
                 key.message_id)
        return self._elsewhere(key, None)

    def _elsewhere(self, key: JobKey, comments: Destination | None) -> Sequence[Posting]:
        """The result as comments under the post, or as reply posts in the channel without a discussion group."""
        post = self._posts[key]
        result = post.result
        to = comments or Destination(key.chat_id, reply_to_message_id=key.message_id)
        calls: list[SendText | SendDocument] = [SendText(to, part) for part in split_message(result.text)]
        if result.as_file:
            calls.append(SendDocument(to, TRANSCRIPT_FILE_NAME, result.text.encode(), result.file_caption or None))
        first, *rest = calls
        return (Posting(first, partial(self._first_sent, key, tuple(rest))),)

    def _first_sent(self, key: JobKey, rest: tuple, outcome: Outcome) -> Sequence[Posting]:
        refused_text = self._posts[key].result.refused_text
        if isinstance(outcome, Made):
            if not rest:
                return self._report(key, delivered=True)
            return (*(Posting(call) for call in rest[:-1]),
                    Posting(rest[-1], lambda _: self._report(key, delivered=True)))
        if outcome.refused and refused_text:
            # Telegram refused the answer for good: the plain failure takes its place, in the caption.
            post = self._posts[key]
            caption = caption_with(post.to.caption, refused_text)
            if caption is None:
                return self._report(key, True, refused=True)
            return (Posting(self._edit(post, caption), lambda _: self._report(key, True, refused=True)),)
        return self._report(key, delivered=False)

    def _report(self, key: JobKey, delivered: bool, refused: bool = False) -> Sequence[Posting]:
        result = self._posts.pop(key).result
        if result.report_to is not None:
            outcome = JobFailed(result.outcome.job, FailureReason.INTERNAL) if refused else result.outcome
            result.report_to.tell(ResultDelivered(outcome, delivered or refused))
        return ()
