"""A local Telegram Bot API sandbox: a real HTTP server speaking the subset of the Bot API a bot uses.

The real pyTelegramBotAPI client talks to it unchanged (point ``telegram.api_url`` at ``BotApiSandbox.url``),
so end-to-end tests exercise the bot's real HTTP, JSON and polling code. Tests play the users' side
(``send_text``, ``send_voice``, ...), observe what the bot did (``messages``, ``calls``, ``wait_for``) and
inject faults (``inject_fault``). Answers and error texts copy Telegram's, because bots branch on them.

Updates go out by ``getUpdates``, or, while a webhook is set (``setWebhook``), by POSTing them one at a time
to its URL with the ``X-Telegram-Bot-Api-Secret-Token`` header, as Telegram does; a delivery that fails is
tried again after ``webhook_retry_seconds``. Unlike Telegram, the sandbox also accepts an http:// URL.

Run standalone with ``python -m voicebot.sandbox --port 8081 --token TOKEN``.
"""
from .bot_api import BotApiSandbox
from .state import ApiCall, BotMessage, SandboxEvent, SandboxUser

__all__ = ["ApiCall", "BotApiSandbox", "BotMessage", "SandboxEvent", "SandboxUser"]
