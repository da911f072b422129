"""The quarantine: a recording under suspicion is transcribed in a process of its own, started for it.

A job that was under way when the bot's process died is no evidence against its recording: the operator, a
deploy or the OOM killer may have killed the process, and every job under way then dies with it. So such a job
runs again apart from the others, in a child process with a model of its own. If the child dies while the bot
lives, the recording did it: that is tried `tries` times, then the recording is given up (WORKER_CRASHED) and
nothing else was harmed. If the bot dies meanwhile, the child dies with it and the job stays a suspect, with
nothing held against it."""
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import BinaryIO

from voicebot.core.domain import FailureReason, Segment, Task, Transcript
from voicebot.core.errors import JobError, one_line
from voicebot.core.ports import Transcriber

log = logging.getLogger(__name__)

START_ALLOWANCE_SECONDS = 60.0   # a child's own start: the interpreter, the libraries and its model
_PR_SET_PDEATHSIG = 1


class ProcessQuarantine:
    """`transcriber`: a Transcriber not loaded yet, made as the WhisperActors' are; each child loads a copy."""

    def __init__(self, transcriber: Transcriber, tries: int, timeout_seconds: float,
                 start_allowance_seconds: float = START_ALLOWANCE_SECONDS):
        self._transcriber = transcriber
        self._tries = tries
        self._seconds = timeout_seconds + start_allowance_seconds   # a child's whole life
        self._context = multiprocessing.get_context("spawn")   # no fork of a process full of threads

    def transcribe(self, audio: Path | BinaryIO, language: str | None = None,
                   on_segment: Callable[[Segment], None] | None = None, max_seconds: float | None = None,
                   task: Task = Task.TRANSCRIBE, vocabulary: str | None = None, words: bool = False) -> Transcript:
        """As Transcriber.transcribe, in a child process; JobError(WORKER_CRASHED) once the recording killed its
        child every time it was tried."""
        path = _path_of(audio)
        for attempt in range(1, self._tries + 1):
            transcript = self._in_a_child(path, (language, max_seconds, task, vocabulary, words), on_segment)
            if transcript is not None:
                return transcript
            log.warning("the process transcribing a recording under suspicion died (try %d of %d)", attempt,
                        self._tries)
        raise JobError(FailureReason.WORKER_CRASHED, f"it killed the process transcribing it {self._tries} times")

    def _in_a_child(self, audio: Path, options: tuple, on_segment) -> Transcript | None:
        """The child's transcript; None when it died without one."""
        reader, writer = self._context.Pipe(duplex=False)
        child = self._context.Process(target=_transcribe_in_child, daemon=True,
                                      args=(writer, os.getpid(), self._transcriber, str(audio), options))
        child.start()
        writer.close()   # the child's end: once the child is gone, reading finds the pipe closed
        try:
            return self._listen(reader, on_segment, time.monotonic() + self._seconds)
        finally:
            reader.close()
            if child.is_alive():
                child.kill()
            child.join()

    @staticmethod
    def _listen(reader: Connection, on_segment, deadline: float) -> Transcript | None:
        while True:
            if not reader.poll(max(0.0, deadline - time.monotonic())):
                raise JobError(FailureReason.TIMEOUT, "the process transcribing it did not finish in time")
            try:
                message = reader.recv()
            except EOFError:
                return None
            match message:
                case Segment() if on_segment is not None:
                    on_segment(message)
                case Transcript():
                    return message
                case (FailureReason() as reason, str(detail)):
                    raise JobError(reason, detail)


def _path_of(audio: Path | BinaryIO) -> Path:
    """A path the child can open: a file's own, or (a file this process holds open, as local mode's) the same
    open file through /proc, which is never looked up by its name again."""
    return audio if isinstance(audio, Path) else Path(f"/proc/{os.getpid()}/fd/{audio.fileno()}")


def _transcribe_in_child(writer: Connection, parent: int, transcriber: Transcriber, audio: str,
                         options: tuple) -> None:
    _die_with(parent)
    language, max_seconds, task, vocabulary, words = options
    try:
        transcriber.load()
        writer.send(transcriber.transcribe(Path(audio), language, on_segment=writer.send, max_seconds=max_seconds,
                                           task=task, vocabulary=vocabulary, words=words))
    except JobError as error:
        writer.send((error.reason, str(error)))
    except Exception as error:   # as the WhisperActor reports it in its own process: an internal failure
        writer.send((FailureReason.INTERNAL, one_line(error)))


def _die_with(parent: int) -> None:
    """The child goes when the bot's process does (Linux: PR_SET_PDEATHSIG), never transcribing for nobody."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)
