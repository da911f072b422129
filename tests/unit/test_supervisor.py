import threading
import time

import pykka

from actors.base import Address, SupervisedActor
from actors.messages import ChildFailed, Ping
from actors.supervisor import ChildSpec, Supervisor

from mailbox import wait_until


class Child(SupervisedActor):
    """A child that records its start and can be told to crash."""

    def __init__(self, name, journal, supervisor, fail_to_start=False):
        super().__init__(name, supervisor)
        self._journal = journal
        self._fail_to_start = fail_to_start

    def prepare(self):
        if self._fail_to_start:
            raise OSError("disk on fire")
        self._journal.append(f"start {self.name}")

    def on_stop(self):
        self._journal.append(f"stop {self.name}")

    def handle(self, message):
        if message == "crash":
            raise RuntimeError("boom")
        return NotImplemented


def specs(names, journal, supervisor, restarted=None, failing=()):
    return [ChildSpec(name, Address(name),
                      lambda name=name: Child.start(name, journal, supervisor, name in failing),
                      on_restart=(lambda name=name: restarted.append(name)) if restarted is not None else None)
            for name in names]


def test_children_start_in_order_and_stop_in_reverse():
    journal, address = [], Address("supervisor")
    groups = [specs(["storage"], journal, address), specs(["quota"], journal, address)]
    supervisor = Supervisor.start(groups, on_give_up=print, address=address)
    supervisor.stop()
    assert journal == ["start storage", "start quota", "stop quota", "stop storage"]


def test_a_crashed_child_is_restarted_in_its_slot():
    journal, address, restarted = [], Address("supervisor"), []
    group = specs(["worker"], journal, address, restarted)
    Supervisor.start([group], on_give_up=print, address=address, check_interval=0.05).ask(Ping())
    slot = group[0].address
    slot.tell("crash")
    assert wait_until(lambda: journal.count("start worker") == 2)
    assert restarted == ["worker"]
    assert wait_until(lambda: slot._ref is not None and slot._ref.is_alive())


def test_a_crash_loop_makes_it_give_up_with_a_reason():
    journal, address, reasons = [], Address("supervisor"), []
    gave_up = threading.Event()
    group = specs(["worker"], journal, address)
    Supervisor.start([group], on_give_up=lambda reason: (reasons.append(reason), gave_up.set()),
                     address=address, max_restarts=2, window_seconds=60).ask(Ping())
    for _ in range(3):
        wait_until(lambda: group[0].address._ref.is_alive())
        group[0].address.tell("crash")
        time.sleep(0.1)
    assert gave_up.wait(5)
    assert reasons[0].startswith("too many actor failures (3 in 60 s); last: worker")


def test_a_child_that_cannot_start_stops_the_start_with_its_reason():
    journal, address, reasons = [], Address("supervisor"), []
    groups = [specs(["storage"], journal, address, failing={"storage"}), specs(["quota"], journal, address)]
    supervisor = Supervisor.start(groups, on_give_up=reasons.append, address=address)
    wait_until(lambda: reasons)
    assert reasons == ["storage could not start: disk on fire"]
    assert "start quota" not in journal
    supervisor.stop()


def test_a_stale_failure_report_from_a_replaced_child_is_ignored():
    journal, address, restarted = [], Address("supervisor"), []
    group = specs(["worker"], journal, address, restarted)
    supervisor = Supervisor.start([group], on_give_up=print, address=address)
    supervisor.ask(Ping())
    supervisor.tell(ChildFailed("worker", "urn:uuid:not-the-current-one", "old news"))
    time.sleep(0.2)
    assert restarted == [] and journal.count("start worker") == 1


class Journal(pykka.ThreadingActor):
    def __init__(self, seen: list):
        super().__init__()
        self.seen = seen

    def on_receive(self, message):
        self.seen.append(message)


def test_messages_told_while_an_actor_is_restarted_reach_the_new_one_in_order():
    address, first, second = Address("storage"), [], []
    old = Journal.start(first)
    address.bind(old)
    address.tell("before")
    old.stop()
    address.tell("while down 1")
    address.tell("while down 2")
    new = Journal.start(second)
    address.bind(new)
    address.tell("after")
    new.ask("barrier")
    assert first == ["before"] and second == ["while down 1", "while down 2", "after", "barrier"]
    address.bind(None)   # shut down: nobody will take them now
    address.tell("too late")
    assert second[-1] == "barrier"
