"""The leader election on a real PostgreSQL: one node leads at a time, and a deposed leader cannot write."""
import concurrent.futures
import logging
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from psycopg2 import connect as pg_connect

from voicebot.adapters.storage import Storage
from voicebot.adapters.storage.leadership import LEASE_SECONDS, Leadership
from voicebot.core.errors import Deposed

from cutproxy import CuttableProxy
from helpers import make_job

pytest_plugins = ["databases"]


@pytest.fixture
def database(postgres_url):
    Storage(postgres_url).open()   # migrated: the leadership row is there
    return postgres_url


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_node_leads_at_a_time_and_each_lead_raises_the_term(database):
    first, second = Leadership(database, "first"), Leadership(database, "second")
    try:
        assert first.try_acquire() and first.term == 1 and first.holds()
        assert not second.try_acquire() and not second.holds()
        first.close()   # its session ends: the lock goes with it
        assert not first.holds()
        assert second.try_acquire() and second.term == 2
    finally:
        first.close()
        second.close()


def test_a_leader_whose_pings_go_unanswered_stops_holding_once_its_lease_is_over(database):
    clock = Clock()
    leader = Leadership(database, "leader", clock=clock)
    try:
        assert leader.try_acquire()
        clock.now += LEASE_SECONDS - 0.1
        assert leader.holds()
        assert leader.renew()
        clock.now += LEASE_SECONDS + 0.1   # no ping answered since
        assert not leader.holds()
    finally:
        leader.close()


@pytest.fixture
def proxy(database):
    """A proxy between a node and the database, which the test slows down or cuts; its URL in `proxy.url`."""
    address = urlsplit(database)
    proxy = CuttableProxy((address.hostname, address.port))
    proxy.url = urlunsplit(address._replace(netloc=f"{address.username}@127.0.0.1:{proxy.port}"))
    yield proxy
    proxy.close()


def test_a_slow_ping_is_a_warning_and_the_leader_keeps_the_lead(proxy, caplog):
    leader = Leadership(proxy.url, "leader")
    try:
        assert leader.try_acquire()
        proxy.slow_down(2.8)   # the database answers, but late: its session is busy, not idle
        with concurrent.futures.ThreadPoolExecutor(1) as pool, caplog.at_level(logging.WARNING):
            ping = pool.submit(leader.renew)
            held = []
            while not ping.done():
                held.append(leader.holds())
                time.sleep(0.05)
        assert all(held), f"the fence came down {held.index(False) * 0.05:.1f} s into a slow ping"
        assert ping.result() and leader.holds()
        assert "to answer the leader's ping; this node still leads" in caplog.text
    finally:
        leader.close()


def test_the_fence_is_down_before_the_server_frees_the_lock_of_a_leader_that_went_silent(database, proxy):
    leader, standby = Leadership(proxy.url, "leader"), Leadership(database, "standby")
    try:
        assert leader.try_acquire()
        proxy.cut()   # no reset, no close: the server ends the session once it has been idle too long
        cut_at, leader_held = time.monotonic(), True
        while True:
            leader_held = leader.holds()   # just before each try of the standby's
            if standby.try_acquire():
                break
            assert time.monotonic() - cut_at < 30, "the server never freed the lock"
            time.sleep(0.05)
        assert not leader_held, "the standby took the lock while the old leader still counted itself leader"
    finally:
        leader.close()
        standby.close()


def test_time_spent_suspended_counts_against_the_lease(database, monkeypatch):
    leader = Leadership(database, "leader")
    try:
        assert leader.try_acquire() and leader.holds()
        # The host slept a minute (time.monotonic does not count that), and the server ended the idle session.
        awake = time.clock_gettime
        monkeypatch.setattr(time, "clock_gettime",
                            lambda clock: awake(clock) + (60.0 if clock == time.CLOCK_BOOTTIME else 0.0))
        assert not leader.holds()
    finally:
        monkeypatch.undo()
        leader.close()


def test_a_leader_whose_session_was_ended_by_the_server_steps_down_at_the_next_ping(database):
    leader = Leadership(database, "leader")
    try:
        assert leader.try_acquire()
        with pg_connect(database) as admin, admin.cursor() as cursor:
            # Only in this test's database: a test beside it (another xdist worker) may have a node of the same name.
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name = 'voicebot leader election (leader)'")
        assert not leader.renew() and not leader.holds()
    finally:
        leader.close()


def test_a_deposed_leaders_writes_fail_and_the_new_leaders_go_through(database):
    old, new = Leadership(database, "old"), Leadership(database, "new")
    old_storage, new_storage = Storage(database, fence=old), Storage(database, fence=new)
    try:
        assert old.try_acquire()
        old_storage.open()
        old_storage.job_finished(make_job().key)   # leading: written
        old_storage.close()
        with pg_connect(database) as admin, admin.cursor() as cursor:
            # Only in this test's database: a test beside it (another xdist worker) may have a node of the same name.
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name = 'voicebot leader election (old)'")
        assert new.try_acquire() and new.term == 2
        assert old.holds()   # within its lease still: only the term stops its writes now
        old_storage.open(migrate=False)
        with pytest.raises(Deposed, match="no longer leads"):
            old_storage.job_finished(make_job().key)
        old_storage.close()
        new_storage.open(migrate=False)
        new_storage.job_finished(make_job().key)
        new_storage.close()
    finally:
        old.close()
        new.close()
