"""The `voicebot` console script."""
import argparse
import logging
import sys
from pathlib import Path

from voicebot.app import operator
from voicebot.app.config import ConfigError, Settings, load_settings
from voicebot.core.errors import url_passwords

DEFAULT_CONFIG = Path("config.toml")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args.config)
        return args.command(settings, args)
    except ConfigError as error:
        return _fail(f"configuration: {error}")
    except KeyboardInterrupt:
        return 130


def _run(settings: Settings, args) -> int:
    from voicebot.app.bootstrap import run_bot
    return _serve(settings, args, run_bot)


def _worker(settings: Settings, args) -> int:
    from voicebot.app.bootstrap import run_worker
    return _serve(settings, args, run_worker)


def _serve(settings: Settings, args, runner) -> int:
    from voicebot.app.logs import configure_logging
    from voicebot.app.node import StartupError
    configure_logging(settings.logging.level, _secrets(settings), json_lines=args.log_format == "json")
    try:
        return runner(settings)
    except StartupError as error:
        logging.getLogger("voicebot").error("%s", error)
        return 1


def _secrets(settings: Settings) -> list[str]:
    """What no log line may show: the token, the webhook secret, and the passwords in URLs."""
    passwords = [password for url in (settings.database.url, settings.broker.url) for password in url_passwords(url)]
    return [settings.telegram.token, settings.telegram.webhook_secret, *passwords]


def _transcribe(settings: Settings, args) -> int:
    from voicebot.app.local import transcribe_files
    return transcribe_files(settings, args.files)


def _demo(settings: Settings, args) -> int:
    from voicebot.app.demo import run_demo
    return run_demo(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicebot", description="Telegram voice messages to text, locally.")
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML config file (default: ./config.toml if present, else built-in defaults)")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the bot (needs TELEGRAM_BOT_TOKEN)")
    run.set_defaults(command=_run)
    worker = commands.add_parser("worker", help="run a transcription node fed by broker.url (needs the token)")
    worker.set_defaults(command=_worker)
    transcribe = commands.add_parser("transcribe", help="transcribe local files with the configured model")
    transcribe.add_argument("files", nargs="+", type=Path, metavar="FILE")
    transcribe.set_defaults(command=_transcribe)
    demo = commands.add_parser("demo", help="play a conversation through a local Bot API sandbox, offline")
    demo.set_defaults(command=_demo)
    operator_commands = operator.add_commands(commands)
    for command in (run, worker):
        command.add_argument("--log-format", choices=("text", "json"), default="text",
                             help="text: one readable line per event (default); json: one JSON object per line")
    for command in (run, worker, transcribe, demo, *operator_commands):  # --config is accepted after the command too
        command.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _settings(config: Path | None) -> Settings:
    if config is None and DEFAULT_CONFIG.is_file():
        config = DEFAULT_CONFIG
    return load_settings(config)


def _fail(message: str) -> int:
    print(f"voicebot: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
