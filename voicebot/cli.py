"""The `voicebot` console script."""
import argparse
import logging
import sys
from pathlib import Path

from voicebot import operator
from voicebot.config import ConfigError, Settings, load_settings

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
    from voicebot.app import StartupError, run_bot
    from voicebot.logs import configure_logging
    configure_logging(settings.logging.level, [settings.telegram.token], json_lines=args.log_format == "json")
    try:
        return run_bot(settings)
    except StartupError as error:
        logging.getLogger("voicebot").error("%s", error)
        return 1


def _transcribe(settings: Settings, args) -> int:
    from voicebot.local import transcribe_files
    return transcribe_files(settings, args.files)


def _demo(settings: Settings, args) -> int:
    from voicebot.demo import run_demo
    return run_demo(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicebot", description="Telegram voice messages to text, locally.")
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML config file (default: ./config.toml if present, else built-in defaults)")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the bot (needs TELEGRAM_BOT_TOKEN)")
    run.add_argument("--log-format", choices=("text", "json"), default="text",
                     help="text: one readable line per event (default); json: one JSON object per line")
    run.set_defaults(command=_run)
    transcribe = commands.add_parser("transcribe", help="transcribe local files with the configured model")
    transcribe.add_argument("files", nargs="+", type=Path, metavar="FILE")
    transcribe.set_defaults(command=_transcribe)
    demo = commands.add_parser("demo", help="play a conversation through a local Bot API sandbox, offline")
    demo.set_defaults(command=_demo)
    operator_commands = operator.add_commands(commands)
    for command in (run, transcribe, demo, *operator_commands):  # --config is accepted after the command too
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
