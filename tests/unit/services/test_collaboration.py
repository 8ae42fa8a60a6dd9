"""Comments, activity, watchers and preferences (DESIGN 13) on the fakes: what each service
writes together in one unit of work, and what it refuses."""

from __future__ import annotations

import pytest

from tasktracker.domain.activity import Verb
from tasktracker.domain.errors import (
    ConcurrentChange,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from tasktracker.domain.events import EventType
from tasktracker.domain.projects import Project, ProjectRole
from tasktracker.domain.tasks import Task
from tasktracker.domain.users import User
from tasktracker.schemas.tasks import TaskCreate
from tasktracker.services.tasks import TASK_WRITE_ATTEMPTS
from tests.fakes import FakeSystem


@pytest.fixture
def ops(system: FakeSystem, alice: User, bob: User) -> Project:
    """OPS: alice owns it, bob is a member."""
    return system.make_project("OPS", owner=alice, members={bob.id: ProjectRole.MEMBER})


@pytest.fixture
def task(system: FakeSystem, ops: Project, bob: User) -> Task:
    return system.services.tasks.create(system.actor(bob), TaskCreate(title="t", project="OPS"))


def entries(system: FakeSystem, task: Task) -> list[Verb]:
    page = system.fakes.activity.page(task_id=task.id, cursor=None, limit=100)
    return [e.verb for e in page.items]


def test_a_failed_commit_leaves_neither_the_change_nor_its_entry(system, task, bob):
    system.fakes.uow.failing_commits = [ConcurrentChange("collided")] * TASK_WRITE_ATTEMPTS
    with pytest.raises(Conflict):
        system.services.tasks.update(system.actor(bob), task.key, {"title": "new"})
    assert system.fakes.tasks.get(task.id).title == "t"
    assert entries(system, task) == [Verb.CREATED]


def test_a_failed_comment_leaves_no_comment_entry_watcher_or_event(system, task, alice):
    system.fakes.uow.fail_next_commit = ConcurrentChange("collided")
    events_before = system.fakes.outbox.events()
    with pytest.raises(ConcurrentChange):
        system.services.comments.add(system.actor(alice), task.key, "hello")
    assert system.fakes.comments.page(task.id, cursor=None, limit=10).items == []
    assert entries(system, task) == [Verb.CREATED]
    assert alice.id not in system.fakes.watchers.choices(task.id)
    assert system.fakes.outbox.events() == events_before


def test_a_comment_makes_its_author_and_the_mentioned_members_watch(system, task, alice, bob, ops):
    carol = system.make_user("carol")  # in GEN, not in OPS
    comment = system.services.comments.add(system.actor(alice), task.key, "@bob @carol @alice look")
    assert comment.mentions == [bob.id, alice.id]
    assert system.fakes.watchers.choices(task.id) == {alice.id: True, bob.id: True}
    [event] = [e for e in system.fakes.outbox.events() if e.type is EventType.COMMENT_CREATED]
    assert event.payload["mentions"] == [bob.id, alice.id]
    assert set(event.payload["watchers"]) == {alice.id, bob.id}
    assert carol.id not in event.payload["watchers"]


def test_only_the_author_edits_and_a_stale_version_is_refused(system, task, alice, bob):
    comment = system.services.comments.add(system.actor(bob), task.key, "draft")
    with pytest.raises(Forbidden):
        system.services.comments.edit(system.actor(alice), comment.id, "hijack")
    with pytest.raises(PreconditionFailed):
        system.services.comments.edit(system.actor(bob), comment.id, "x", expected_version=5)
    edited = system.services.comments.edit(system.actor(bob), comment.id, "final", 1)
    assert (edited.body, edited.version) == ("final", 2)
    assert entries(system, task)[0] is Verb.COMMENT_EDITED


def test_deleting_redacts_the_history_of_the_comment(system, task, alice, bob):
    comment = system.services.comments.add(system.actor(bob), task.key, "secret one")
    system.services.comments.edit(system.actor(bob), comment.id, "secret two")
    system.services.comments.delete(system.actor(alice), comment.id)  # the owner moderates
    stored = system.fakes.comments.get(comment.id)
    assert stored.body is None and stored.deleted_at is not None
    page = system.fakes.activity.page(task_id=task.id, cursor=None, limit=100)
    assert "secret" not in repr(page.items)
    assert [e.verb for e in page.items][:3] == [
        Verb.COMMENT_DELETED,
        Verb.COMMENT_EDITED,
        Verb.COMMENTED,
    ]
    with pytest.raises(Conflict):
        system.services.comments.delete(system.actor(bob), comment.id)


def test_a_comment_of_an_invisible_project_does_not_exist(system, task, bob):
    comment = system.services.comments.add(system.actor(bob), task.key, "x")
    stranger = system.make_user("stranger")
    with pytest.raises(NotFound):
        system.services.comments.edit(system.actor(stranger), comment.id, "y")
    with pytest.raises(NotFound):
        system.services.comments.delete(system.actor(stranger), "nope")


def test_deleting_a_task_takes_its_comments_and_watchers_and_records_it(system, task, bob):
    system.services.comments.add(system.actor(bob), task.key, "x")
    system.services.tasks.delete(system.actor(bob), task.key)
    assert system.fakes.comments.page(task.id, cursor=None, limit=10).items == []
    assert system.fakes.watchers.choices(task.id) == {}
    feed = system.fakes.activity.page(project_id=task.project_id, cursor=None, limit=10)
    assert [e.verb for e in feed.items] == [Verb.DELETED, Verb.COMMENTED, Verb.CREATED]


def test_preferences_change_only_what_is_named(system, alice):
    prefs = system.services.preferences.change_notifications(alice.id, {"commented": False})
    assert prefs.values() == {
        "assigned": True,
        "status_changed": True,
        "commented": False,
        "mentioned": True,
        "digest": True,
    }
    assert system.services.preferences.notifications(alice.id) == prefs
    with pytest.raises(InvalidInput):
        system.services.preferences.change_notifications(alice.id, {"digest": None})
