"""A local Telegram Bot API sandbox: a real HTTP server speaking the subset of the Bot API a bot uses.

The real pyTelegramBotAPI client talks to it unchanged (point ``telegram.api_url`` at ``BotApiSandbox.url``),
so end-to-end tests exercise the bot's real HTTP, JSON and polling code. Tests play the users' side
(``send_text``, ``send_voice``, ...), observe what the bot did (``messages``, ``calls``, ``wait_for``) and
inject faults (``inject_fault``). Answers and error texts copy Telegram's, because bots branch on them.

Updates go out by ``getUpdates``, or, while a webhook is set (``setWebhook``), by POSTing them one at a time
to its URL with the ``X-Telegram-Bot-Api-Secret-Token`` header, as Telegram does; a delivery that fails is
tried again after ``webhook_retry_seconds``. Unlike Telegram, the sandbox also accepts an http:// URL.

With ``local_dir`` it is a server in local mode (``telegram-bot-api --local``): files lie on disk under
``<local_dir>/<token>/``, getFile answers their absolute paths and serves up to 2000 MB, and there is no
download route. Group chats can be forums: ``create_topic`` (or the bot's ``createForumTopic``) opens a topic,
and a message sent into it with ``message_thread_id``, a user's or the bot's, carries ``message_thread_id`` and
``is_topic_message``, as does a reply to a message in it.

The bot's messages may carry an inline keyboard (``reply_markup``, checked with Telegram's rules and error
texts); ``press_button`` presses one of its buttons, or forges callback data, and queues a callback query,
which the bot answers once with answerCallbackQuery (``callback_answer`` tells how). ``allowed_updates`` of
getUpdates and setWebhook is the bot's one setting, as in Telegram; updates of other types are dropped
undelivered. Texts and captions honour parse_mode (HTML, MarkdownV2, Markdown), and their limits count what
users see.

The world around the bot's own chats (chats.py): ``create_group`` and ``create_channel`` set up supergroups,
public chats (methods take "@username" as chat_id), groups without the bot, channels where the bot is an
administrator with the rights given (posts arrive as channel_post; getChat shows a discussion group as
linked_chat_id, and the group gets each post as an automatic forward), and getChatMember answers each user's
status. ``to=`` in the users' methods writes in a private chat between two users, which the bot sees only
through a business connection (business.py: ``connect_business``, business_message updates, sends with
business_connection_id). ``mention_bot`` summons the bot as a guest in any chat (guests.py: guest_message,
answerGuestQuery, edits by inline_message_id). ``forward_message`` forwards a message with its file ids and a
forward_origin.

Payments in Telegram Stars (payments.py): sendInvoice and createInvoiceLink (currency XTR, one price, no provider
token); ``pay_invoice`` and ``pay_invoice_link`` pay as a user: a pre_checkout_query that the bot answers with
answerPreCheckoutQuery within 10 seconds (a later answer is refused), then a successful_payment service message in
the user's chat with the bot; refundStarPayment (once per payment, with Telegram's errors) and
``refund_by_telegram`` post refunded_payment; getStarTransactions lists both, oldest first.

Run standalone with ``python -m voicebot.sandbox --port 8081 --token TOKEN [--local DIR]``.
"""
from .bot_api import BotApiSandbox
from .payments import PaymentOutcome
from .state import ApiCall, BotMessage, SandboxEvent, SandboxUser

__all__ = ["ApiCall", "BotApiSandbox", "BotMessage", "PaymentOutcome", "SandboxEvent", "SandboxUser"]
