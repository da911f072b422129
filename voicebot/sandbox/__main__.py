"""``python -m voicebot.sandbox --port 8081 --token TOKEN [--local DIR]``: a sandbox that runs until Ctrl-C
and prints every chat event."""
from __future__ import annotations

import argparse
import threading
from pathlib import Path

from .bot_api import BotApiSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local Telegram Bot API sandbox until Ctrl-C.")
    parser.add_argument("--token", required=True, help="the only bot token the sandbox accepts")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--local", type=Path, metavar="DIR",
                        help="behave as telegram-bot-api --local with this working directory: files on disk there")
    args = parser.parse_args(argv)
    with BotApiSandbox(args.token, args.host, args.port, local_dir=args.local) as sandbox:
        sandbox.add_listener(lambda event: print(f"[chat {event.chat_id}] {event.kind}: {event.text}",
                                                 flush=True))
        print(f"Bot API sandbox listening on {sandbox.url} (set telegram.api_url to it)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping", flush=True)


if __name__ == "__main__":
    main()
