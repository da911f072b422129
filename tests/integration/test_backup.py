"""`voicebot db backup PATH`: a consistent copy of a SQLite database while the bot writes to it."""
import os
import sqlite3
import stat
import threading
from contextlib import closing
from datetime import date

from voicebot.adapters.storage import Storage
from voicebot.app.cli import main
from voicebot.core.domain import Transcript

from helpers import make_job

DAY = date(2024, 5, 1)


def rows(path, table: str = "usage") -> int:
    with closing(sqlite3.connect(path)) as database:
        return database.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def configured(tmp_path, url: str):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    return config


class Writer(threading.Thread):
    """Records usage rows one transaction each, as the StorageActor does, until told to stop."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self._url = url
        self.written = 0
        self.error: Exception | None = None
        self.started_writing = threading.Event()
        self.stop = threading.Event()

    def run(self):
        storage = Storage(self._url)
        storage.open()   # peewee's connection belongs to this thread
        try:
            while not self.stop.is_set():
                storage.record_usage(make_job(user_id=self.written % 7, message_id=self.written), DAY, "done", 3.0,
                                     Transcript("words " * 50, "en", 0.9, 3.0, 0.5))
                self.written += 1
                if self.written == 2000:
                    self.started_writing.set()
        except Exception as error:  # the test reports it, with its type
            self.error = error
            self.started_writing.set()
        finally:
            storage.close()


def test_a_backup_while_the_bot_writes_is_a_whole_database_of_one_moment(tmp_path, capsys):
    source, copy = tmp_path / "voicebot.db", tmp_path / "backups" / "voicebot-copy.db"
    copy.parent.mkdir()
    url = f"sqlite:///{source}"
    writer = Writer(url)
    writer.start()
    assert writer.started_writing.wait(120) and writer.error is None, writer.error
    before = rows(source)
    code = main(["--config", str(configured(tmp_path, url)), "db", "backup", str(copy)])
    out, err = capsys.readouterr()
    after = rows(source)
    writer.stop.set()
    writer.join(30)
    assert writer.error is None, writer.error
    assert (code, err) == (0, "")
    assert out.startswith(f"backed up {source} to {copy} (") and out.endswith(" MB)\n")
    assert before < after, "the writes went on during the backup"
    assert not (copy.parent / "voicebot-copy.db.partial").exists()

    with closing(sqlite3.connect(copy)) as database:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copied = database.execute("SELECT count(*) FROM usage").fetchone()[0]
        # One moment: each usage row with its charge, and no job half closed.
        assert database.execute('SELECT count(*) FROM "transaction"').fetchone()[0] == copied
    assert before <= copied <= after
    storage = Storage(f"sqlite:///{copy}")
    storage.open(migrate=False)
    try:
        assert storage.migrate() == []   # the copy has the whole schema
        assert sum(summary.transcriptions for summary in
                   (storage.user_summary(user, DAY) for user in range(7)) if summary) == copied
    finally:
        storage.close()


def test_a_backup_overwrites_nothing_and_needs_a_database(tmp_path, capsys):
    source = tmp_path / "voicebot.db"
    config = configured(tmp_path, f"sqlite:///{source}")
    existing = tmp_path / "existing.db"
    existing.write_text("precious")
    assert main(["--config", str(config), "db", "backup", str(existing)]) == 1
    assert capsys.readouterr().err == (f"voicebot: no SQLite database at {source}: check database.url "
                                       f"(a relative path starts in this folder)\n")
    assert not source.exists(), "a backup creates no empty database"

    storage = Storage(f"sqlite:///{source}")
    storage.open()
    storage.close()
    assert main(["--config", str(config), "db", "backup", str(existing)]) == 1
    assert capsys.readouterr().err == (f"voicebot: {existing} exists already: name a new file "
                                       f"(a backup overwrites nothing)\n")
    assert existing.read_text() == "precious"

    assert main(["--config", str(config), "db", "backup", str(tmp_path / "no" / "such" / "folder.db")]) == 1
    assert capsys.readouterr().err.startswith(f"voicebot: backing up {source} to {tmp_path}/no/such/folder.db failed: ")


def test_postgresql_is_backed_up_with_pg_dump(tmp_path, capsys):
    config = configured(tmp_path, "postgresql://voicebot:s3cret@db.internal:5432/voicebot")
    assert main(["--config", str(config), "db", "backup", str(tmp_path / "copy.db")]) == 1
    err = capsys.readouterr().err
    assert err == ("voicebot: database.url is not SQLite: back PostgreSQL up with pg_dump "
                   "(pg_dump --format=custom --file=voicebot.dump DBNAME; pg_restore brings it back)\n")
    assert not (tmp_path / "copy.db").exists()


def a_database(tmp_path):
    source = tmp_path / "voicebot.db"
    storage = Storage(f"sqlite:///{source}")
    storage.open()
    storage.close()
    source.chmod(0o600)
    return source, configured(tmp_path, f"sqlite:///{source}")


def test_a_backup_is_readable_by_its_owner_only_whatever_the_umask(tmp_path, capsys):
    source, config = a_database(tmp_path)
    copy = tmp_path / "copy.db"
    umask = os.umask(0o022)
    try:
        assert main(["--config", str(config), "db", "backup", str(copy)]) == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600


def test_a_partial_copy_left_behind_is_not_reused_nor_followed(tmp_path, capsys):
    """PATH.partial already there (a backup that runs now, one killed, or a link planted to another file):
    the backup stops with one line and touches neither it nor what it points to."""
    source, config = a_database(tmp_path)
    copy, elsewhere = tmp_path / "copy.db", tmp_path / "elsewhere"
    partial = tmp_path / "copy.db.partial"
    for planted in ("file", "link"):
        elsewhere.write_text("precious")
        if planted == "file":
            partial.write_text("precious")
        else:
            partial.unlink()
            partial.symlink_to(elsewhere)
        assert main(["--config", str(config), "db", "backup", str(copy)]) == 1
        assert capsys.readouterr().err == (f"voicebot: {partial} exists: another backup to {copy} runs now or was "
                                           f"stopped; remove it and try again\n")
        assert partial.read_text() == elsewhere.read_text() == "precious"
        assert not copy.exists()
