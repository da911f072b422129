"""`voicebot` as a real process against the sandbox, started as an operator starts it: the config file that
points it at the sandbox, an environment free of this process's voicebot settings, and the process itself.

The end-to-end tests (tests/botprocess.py, tests/nodes.py) and the benchmarks (bench/) start their bots
with these. Standard library only, as the rest of the package.
"""
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def write_config(path: Path, api_url: str, database: str | os.PathLike, *, telegram: str = "", extra: str = "",
                 poll_timeout_seconds: int | None = 1) -> Path:
    """A config file at `path` for a bot that talks to the Bot API at `api_url` (a sandbox's `url`) and keeps
    its data in `database`: a URL, or a path, meaning a SQLite file there.

    `telegram`: further keys of [telegram]; `extra`: further sections; both as TOML text.
    `poll_timeout_seconds`: 1 by default (the bot's own is 10 s); None leaves the bot's own.
    """
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    poll = "" if poll_timeout_seconds is None else f"poll_timeout_seconds = {poll_timeout_seconds}\n"
    path.write_text(f"""
[telegram]
api_url = "{api_url}"
{poll}{telegram}
[database]
url = "{url}"
{extra}
""")
    return path


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without any voicebot settings (VOICEBOT_*) or bot token, plus `extra`."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("VOICEBOT_") and key != "TELEGRAM_BOT_TOKEN"}
    return {**env, **extra}


def start_voicebot(*args: str, env: Mapping[str, str], cwd: Path, log: Path | None = None) -> subprocess.Popen:
    """`python -m voicebot ARGS` (such as "run", "--config", PATH) in the folder `cwd`.

    Its stdout and stderr go to two pipes, read as text; with `log`, both go to that file instead, for a
    process nobody reads as it runs (a pipe nobody reads fills up and stalls the bot).
    """
    command = [sys.executable, "-m", "voicebot", *args]
    if log is None:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with open(log, "w") as file:   # the child has its own copy of the descriptor
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=file, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, timeout: float, *, kill: bool = False) -> int:
    """SIGTERM unless it has exited already, then its exit code once it exits. Past `timeout` seconds:
    subprocess.TimeoutExpired, or with `kill` SIGKILL and the exit code that gives."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if not kill:
            raise
        process.kill()
        return process.wait()
