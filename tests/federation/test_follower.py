"""`Follower`: a committee member judges off the launcher's thread, one offer at a time, and one
task that fails does not keep the others from being judged."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest

from coordinator.committee.follower import Follower
from decentralml.manifest import TaskManifest
from decentralml_bindings.types import TaskInfo


class SlowMember:
    """Blocks in `follow` until released; records what it followed, and fails on `fail_on`."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.release = threading.Event()
        self.followed: list[int] = []
        self.fail_on = fail_on

    def follow(self, task_id: int, task: Any, manifest: Any) -> None:
        assert self.release.wait(30), "never released"
        if task_id == self.fail_on:
            raise ConnectionError("the chain went away")
        self.followed.append(task_id)


def offered(*task_ids: int) -> list[tuple[int, TaskInfo, TaskManifest]]:
    return [(t, cast(TaskInfo, None), cast(TaskManifest, None)) for t in task_ids]


def test_an_offer_returns_at_once_and_a_busy_follower_takes_no_other() -> None:
    member = SlowMember()
    follower = Follower(member)

    assert follower.offer(offered(3, 1)), "an idle follower takes the offer"
    assert follower.busy  # the launcher's tick is already back, judging goes on
    assert not follower.offer(offered(7)), "a busy follower takes nothing more"
    member.release.set()
    follower.join(10)

    assert not follower.busy
    assert member.followed == [3, 1], "the offer is followed whole and in order; 7 was not taken"
    assert not follower.offer([]), "nothing to follow starts no thread"
    assert follower.offer(offered(7))
    follower.join(10)
    assert member.followed == [3, 1, 7]


def test_one_task_that_fails_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    member = SlowMember(fail_on=2)
    member.release.set()
    follower = Follower(member)

    with caplog.at_level("WARNING"):
        assert follower.offer(offered(1, 2, 3))
        follower.join(10)

    assert member.followed == [1, 3]
    assert any("committee round not judged" in r.message for r in caplog.records)
