"""The offline run adds the discussion to the thread before it clicks Resolve, however the wait's start falls
between its polls (a report without the thread was seen on a loaded machine)."""

from __future__ import annotations

from typing import Any

from opsloop.local.runner import Execution, Session


class Driven:
    """What Session.drive uses, recorded: the wait begins on the ``begins``-th reading of the incident."""

    def __init__(self, begins: int) -> None:
        self.readings, self.begins, self.events = 0, begins, []  # type: ignore[var-annotated]

    def poll(self, execution: Execution) -> bool:  # the execution ends soon after the click (or gives up)
        return execution.clicked or self.readings > 10

    def waiting(self, execution: Execution) -> bool:
        self.readings += 1
        return self.readings >= self.begins

    def seed_thread(self, execution: Execution) -> None:
        self.events.append("seeded")
        execution.seeded = True

    def click_resolve(self, execution: Execution) -> str:
        self.events.append("clicked")
        execution.clicked = True
        return "resolved"

    def say(self, _: Any) -> None:
        pass


def test_resolve_is_clicked_only_after_the_thread_is_seeded_wherever_the_wait_begins() -> None:
    for begins in range(1, 5):  # the wait starts on the 1st, 2nd, 3rd or 4th reading
        driven = Driven(begins)
        execution = Execution("inc-1", "arn", {}, watcher=None, deadline=0)  # type: ignore[arg-type]
        Session.drive(driven, execution, click=True)  # type: ignore[arg-type]
        assert driven.events == ["seeded", "clicked"], begins


def test_without_a_click_the_thread_is_still_seeded_once() -> None:
    driven = Driven(2)
    execution = Execution("inc-1", "arn", {}, watcher=None, deadline=0)  # type: ignore[arg-type]
    driven.poll = lambda e: driven.readings >= 5  # type: ignore[method-assign]
    Session.drive(driven, execution, click=False)  # type: ignore[arg-type]
    assert driven.events == ["seeded"]
