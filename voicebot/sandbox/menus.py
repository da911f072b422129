"""setMyCommands, getMyCommands, deleteMyCommands and the bot's (short) description, per language, as the
Bot API documents them: the command list, description and short description a user's app shows depend on
its language (language_code: a two-letter ISO 639-1 code, or empty for everyone without their own)."""
import re
from typing import Any

from .protocol import _ApiError, _json_param, _Request
from .state import _SandboxState

_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
MAX_COMMANDS = 100
MAX_COMMAND_DESCRIPTION = 256
MAX_DESCRIPTION = 512
MAX_SHORT_DESCRIPTION = 120


class _MenuMethods(_SandboxState):
    def menus(self, language_code: str = "") -> dict[str, Any]:
        """What a user whose app is in `language_code` sees: commands, description, short description (the
        default ones where the bot set none for that language)."""
        with self._cond:
            menus = self._menus.get(language_code) or {}
            default = self._menus.get("", {})
            return {key: menus.get(key, default.get(key, [] if key == "commands" else ""))
                    for key in ("commands", "description", "short_description")}

    def _set_my_commands(self, request: _Request) -> bool:
        commands = _json_param(request, "commands")
        if not isinstance(commands, list) or len(commands) > MAX_COMMANDS:
            raise _ApiError(400, "Bad Request: commands must be an array of at most 100 BotCommand")
        for command in commands:
            if not (isinstance(command, dict) and isinstance(command.get("command"), str)
                    and _COMMAND.fullmatch(command["command"]) and isinstance(command.get("description"), str)
                    and 1 <= len(command["description"]) <= MAX_COMMAND_DESCRIPTION):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self._set_menu(request, "commands", [{"command": c["command"], "description": c["description"]}
                                             for c in commands])
        return True

    def _get_my_commands(self, request: _Request) -> list[dict]:
        return self.menus(_language_code(request))["commands"]

    def _delete_my_commands(self, request: _Request) -> bool:
        self._set_menu(request, "commands", [])
        return True

    def _set_my_description(self, request: _Request) -> bool:
        self._set_menu(request, "description", _text(request, "description", MAX_DESCRIPTION))
        return True

    def _get_my_description(self, request: _Request) -> dict:
        return {"description": self.menus(_language_code(request))["description"]}

    def _set_my_short_description(self, request: _Request) -> bool:
        self._set_menu(request, "short_description", _text(request, "short_description", MAX_SHORT_DESCRIPTION))
        return True

    def _get_my_short_description(self, request: _Request) -> dict:
        return {"short_description": self.menus(_language_code(request))["short_description"]}

    def _set_menu(self, request: _Request, key: str, value: Any) -> None:
        with self._cond:
            self._menus.setdefault(_language_code(request), {})[key] = value
            self._cond.notify_all()


def _language_code(request: _Request) -> str:
    code = request.params.get("language_code") or ""
    if code and not (isinstance(code, str) and len(code) == 2 and code.isalpha() and code.islower()):
        raise _ApiError(400, "Bad Request: invalid language code specified")
    return code


def _text(request: _Request, name: str, limit: int) -> str:
    text = str(request.params.get(name) or "")
    if len(text) > limit:
        raise _ApiError(400, f"Bad Request: {name} is too long")
    return text
