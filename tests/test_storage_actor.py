from datetime import date

from actors.messages import LoadUsage, Ping, RecordUsage
from actors.storage import StorageActor
from helpers import make_job
from mailbox import deliver
from voicebot.domain import Transcript
from voicebot.storage import Storage

DAY = date(2026, 11, 28)


def test_usage_written_by_the_actor_is_there_after_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    transcript = Transcript("hello", "en", 0.9, 12.5, 2.0)
    first = StorageActor.start(Storage(url))
    deliver(first, RecordUsage(make_job(user_id=1, message_id=1), DAY, "done", 12.5, transcript),
            RecordUsage(make_job(user_id=1, message_id=2), DAY, "unreadable_audio"),
            RecordUsage(make_job(user_id=2, message_id=3), DAY, "done", 3.0, transcript))
    first.stop()

    second = StorageActor.start(Storage(url))
    assert second.ask(LoadUsage(DAY)) == {1: 12.5, 2: 3.0}
    assert second.ask(LoadUsage(date(2026, 11, 29))) == {}
    second.stop()
    storage = Storage(url)
    storage.open()
    rows = storage.usages(1)
    assert [(row.status, row.charged_seconds, row.transcript) for row in rows] == [
        ("done", 12.5, "hello"), ("unreadable_audio", 0.0, None)]
    assert [t.seconds for t in rows[0].user.transactions] == [12.5]
    storage.close()


def test_a_database_that_cannot_be_opened_is_a_one_line_start_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    actor = StorageActor.start(Storage(f"sqlite:///{blocked}/bot.db"))
    error = actor.ask(Ping())
    assert error.startswith("storage could not start: cannot open database.url sqlite:///")
    assert "\n" not in error
