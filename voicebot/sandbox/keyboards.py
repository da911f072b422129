"""Reply markup (the reply_markup of sendMessage, sendDocument and the edits) read as Telegram's Bot API server
reads it, with its error texts. An inline keyboard is kept as Telegram shows it on the message: each button its
text and the one action that counts. The other kinds (ReplyKeyboardMarkup, ReplyKeyboardRemove, ForceReply) are
accepted and kept as sent, but are no part of the message, as in Telegram."""
from __future__ import annotations

from typing import Any

from .protocol import _ApiError, _json_param, _Request

MAX_CALLBACK_DATA_BYTES = 64
# A button's actions in the order the Bot API server looks for them: the first one present counts and any
# others are dropped (the docs ask for exactly one). url and callback_data count only when not empty.
_BUTTON_ACTIONS = ("url", "callback_data", "callback_game", "pay", "switch_inline_query",
                   "switch_inline_query_chosen_chat", "switch_inline_query_current_chat", "login_url", "web_app",
                   "copy_text")
_STRING_ACTIONS = ("url", "callback_data")
_OTHER_KINDS = ("remove_keyboard", "hide_keyboard", "force_reply", "force_reply_keyboard")  # with older names
_BUTTON_ERROR = "Bad Request: can't parse inline keyboard button: "


def _reply_markup(request: _Request) -> dict | None:
    """The request's reply_markup: an inline keyboard ``{"inline_keyboard": rows}``, another kind of markup as
    sent, or None without one. An inline keyboard without buttons is none, as in Telegram."""
    if request.params.get("reply_markup") in (None, ""):
        return None
    return _read_markup(_json_param(request, "reply_markup", "reply keyboard markup"))


def _read_markup(markup: Any) -> dict | None:
    """A reply markup object as sent, read as _reply_markup says."""
    if not isinstance(markup, dict):
        raise _ApiError(400, "Bad Request: object expected as reply markup")
    keyboard = _array_field(markup, "keyboard")
    rows = _inline_rows(markup.get("inline_keyboard"))
    other = {key: value for key, value in markup.items() if key != "inline_keyboard"}
    if keyboard:
        return other  # a reply keyboard wins over an inline one, as in the Bot API server
    if rows:
        _check_buttons(rows)
        return {"inline_keyboard": rows}
    if any(other.get(kind) is True for kind in _OTHER_KINDS):
        return other
    return None


def _inline_markup(request: _Request) -> dict | None:
    """The reply_markup of an edit, which can only be an inline keyboard; None takes the message's away."""
    return _inline_only(_reply_markup(request))


def _inline_only(markup: dict | None) -> dict | None:
    if markup is not None and not _is_inline(markup):
        raise _ApiError(400, "Bad Request: inline keyboard expected")
    return markup


def _is_inline(markup: dict | None) -> bool:
    return markup is not None and "inline_keyboard" in markup


def _shown(markup: dict | None) -> dict:
    """The message fields that show a markup: an inline keyboard is part of the message, other kinds are not."""
    return {"reply_markup": markup} if _is_inline(markup) else {}


def _describe(markup: dict | None) -> str:
    """An inline keyboard in a line, for events: each row's button texts in brackets; "" for none."""
    rows = markup["inline_keyboard"] if _is_inline(markup) else []
    return " ".join("[" + " | ".join(button["text"] for button in row) + "]" for row in rows)


def _array_field(markup: dict, name: str) -> list:
    value = markup.get(name)
    if value is not None and not isinstance(value, list):
        raise _ApiError(400, f'Bad Request: field "{name}" must be of type Array')
    return value or []


def _inline_rows(keyboard: Any) -> list[list[dict]]:
    """An inline keyboard's rows as Telegram shows them: empty rows are dropped."""
    if keyboard is not None and not isinstance(keyboard, list):
        raise _ApiError(400, 'Bad Request: field "inline_keyboard" must be of type Array')
    rows = []
    for row in keyboard or []:
        if not isinstance(row, list):
            raise _ApiError(400, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an '
                                 'Array of Arrays')
        buttons = [_inline_button(button) for button in row]
        if buttons:
            rows.append(buttons)
    return rows


def _inline_button(button: Any) -> dict:
    """A button as Telegram shows it: its text and its action; other fields are dropped."""
    if not isinstance(button, dict):
        raise _ApiError(400, _BUTTON_ERROR + "InlineKeyboardButton must be an Object")
    text = _string_field(button, "text", required=True)
    action = next((name for name in _BUTTON_ACTIONS
                   if name in button and (name not in _STRING_ACTIONS or _string_field(button, name))), None)
    if action is None:
        raise _ApiError(400, _BUTTON_ERROR + "Text buttons are unallowed in the inline keyboard")
    return {"text": text, action: _string_field(button, action) if action in _STRING_ACTIONS else button[action]}


def _string_field(button: dict, name: str, required: bool = False) -> str:
    """A string field read as the Bot API server reads it: a number stands for its digits; absent is ""."""
    value = button.get(name)
    if value is None:
        if required:
            raise _ApiError(400, _BUTTON_ERROR + f'Can\'t find field "{name}"')
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _ApiError(400, _BUTTON_ERROR + f'Field "{name}" must be of type String')
    return str(value)


def _check_buttons(rows: list[list[dict]]) -> None:
    """What Telegram itself refuses once the Bot API server has read the whole markup: a blank button text,
    callback data over 64 bytes (UTF-8)."""
    for button in (button for row in rows for button in row):
        if not button["text"].strip():
            raise _ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
        if len(button.get("callback_data", "").encode()) > MAX_CALLBACK_DATA_BYTES:
            raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
