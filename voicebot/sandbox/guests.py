"""Guest mode: a user mentions the bot's @username in a chat, one the bot need not be in (a group without it, a
private chat between two users), usually replying to a message there (``mention_bot``). The bot gets a
guest_message update, whose message carries a guest_query_id and shows the chat as that user sees it (a private
chat is the other user), and answers it once with answerGuestQuery: an InlineQueryResult whose message the bot
posts into that chat as a guest. The answer is a SentGuestMessage with the post's inline_message_id, by which
editMessageText, editMessageCaption and editMessageReplyMarkup edit the post (they answer True, as for every
inline message). The sandbox posts results whose content is a text (input_message_content with message_text: an
article, say)."""
from __future__ import annotations

import copy
import re
import secrets

from .chats import _ChatsSide, _user_json
from .formatting import _parse, _utf16_length
from .keyboards import _inline_only, _read_markup, _shown
from .protocol import _QUERY_INVALID, _ApiError, _json_param, _Request
from .state import BOT_USERNAME, BotMessage, SandboxUser, _GuestQuery

MAX_TEXT_LENGTH = 4096
MAX_RESULT_ID_BYTES = 64
_MENTION = re.compile(r"@[A-Za-z0-9_]{5,32}")
_RESULT_ERROR = "Bad Request: can't parse inline query result: "


class _GuestsSide(_ChatsSide):
    """Summoning the bot (tests' side), answerGuestQuery, and finding a guest post to edit."""

    def mention_bot(self, user: SandboxUser, text: str | None = None, *, chat_id: int | None = None,
                    to: SandboxUser | None = None, reply_to: int | None = None) -> str:
        """`user` writes `text` (by default just the bot's @username, which it must mention) in group `chat_id`,
        or in their private chat with `to`, replying to message `reply_to` there: the bot gets it as a
        guest_message, and nothing else. Returns the guest_query_id, for answerGuestQuery."""
        text = f"@{BOT_USERNAME}" if text is None else text
        entities = [{"type": "mention", "offset": _utf16_length(text[:match.start()]),
                     "length": _utf16_length(match.group())} for match in _MENTION.finditer(text)]
        if not any(match.group()[1:].lower() == BOT_USERNAME for match in _MENTION.finditer(text)):
            raise ValueError(f"a guest query mentions @{BOT_USERNAME}")
        if to is None and (chat_id is None or chat_id == user.id):
            raise ValueError("the bot is summoned as a guest in another chat: give a group's chat_id or to=")
        with self._cond:
            place = self._user_place(user, chat_id, to)
            if place.sender is None:
                raise ValueError("guest bots are summoned in private chats, groups and supergroups, not channels")
            if reply_to is not None and (place.key, reply_to) not in self._messages:
                raise ValueError(f"no message {reply_to} in that chat to reply to")
            message = self._new_message(place.chat, place.sender, {"text": text, "entities": entities}, reply_to,
                                        key=place.key)
            query_id = str(next(self._guest_query_ids))
            self._guest_queries[query_id] = _GuestQuery(user, place.key, place.chat)
            seen = self._seen_by(message, user.id, place.key)
            self._queue_update({"guest_message": {**seen, "guest_query_id": query_id}})
            self._emit("user_text", place.chat["id"], text, message["message_id"], user, place.where)
            return query_id

    def guest_answer(self, query_id: str) -> BotMessage | None:
        """The post that answered a guest query, as it stands now; None while it is unanswered."""
        with self._cond:
            query = self._guest_queries.get(query_id)
            if query is None or query.inline_message_id is None:
                return None
            return copy.deepcopy(self._bot_messages[self._inline_messages[query.inline_message_id]])

    def guest_post(self, inline_message_id: str) -> BotMessage | None:
        """The guest post with this inline_message_id, as it stands now."""
        with self._cond:
            location = self._inline_messages.get(inline_message_id)
            return None if location is None else copy.deepcopy(self._bot_messages[location])

    def guest_posts(self) -> list[BotMessage]:
        """Every guest post of the bot, in the order posted, as each stands now."""
        with self._cond:
            return [copy.deepcopy(message) for message in self._bot_messages.values()
                    if message.inline_message_id is not None]

    # --- Bot API methods

    def _answer_guest_query(self, request: _Request) -> dict:
        content, markup = _guest_content(_json_param(request, "result", "inline query result"))
        with self._cond:
            query = self._guest_queries.get(str(request.params.get("guest_query_id", "")).strip())
            if query is None or query.inline_message_id is not None:
                raise _ApiError(400, _QUERY_INVALID)
            caller = {"guest_bot_caller_user": _user_json(query.caller)}
            message = self._new_message(query.chat, self._bot_sender(),
                                        {**copy.deepcopy(content), **caller, **_shown(markup)}, None, key=query.key)
            query.inline_message_id = "SBXI" + secrets.token_urlsafe(18)
            location = (query.key, message["message_id"])
            self._inline_messages[query.inline_message_id] = location
            self._bot_messages[location] = BotMessage(
                chat_id=query.chat["id"], message_id=message["message_id"], text=content["text"], reply_to=None,
                edits=[], reply_markup=copy.deepcopy(markup), inline_message_id=query.inline_message_id)
            self._emit("bot_message", query.chat["id"], content["text"], message["message_id"], None, "guest")
            return {"inline_message_id": query.inline_message_id}


def _guest_content(result: object) -> tuple[dict, dict | None]:
    """The message an InlineQueryResult describes, and its inline keyboard."""
    if not isinstance(result, dict):
        raise _ApiError(400, _RESULT_ERROR + "Object expected")
    for name in ("type", "id"):
        if not isinstance(result.get(name), str):
            raise _ApiError(400, _RESULT_ERROR + f'Can\'t find field "{name}"')
    if not result["id"] or len(result["id"].encode()) > MAX_RESULT_ID_BYTES:
        raise _ApiError(400, "Bad Request: RESULT_ID_INVALID")
    content = result.get("input_message_content")
    if result["type"] == "article" and not isinstance(result.get("title"), str):
        raise _ApiError(400, _RESULT_ERROR + 'Can\'t find field "title"')
    if not isinstance(content, dict):
        raise _ApiError(400, _RESULT_ERROR + 'Can\'t find field "input_message_content"')
    if not isinstance(content.get("message_text"), str):
        raise _ApiError(400, _RESULT_ERROR + 'Can\'t find field "message_text"')
    text, entities = _parse(content["message_text"], content.get("parse_mode"), content.get("entities"))
    if not text.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
    markup = _inline_only(_read_markup(result["reply_markup"])) if result.get("reply_markup") is not None else None
    return {"text": text, **({"entities": entities} if entities else {})}, markup
