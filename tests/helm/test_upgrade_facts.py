"""What the upgrade smoke counts as a problem, on facts as the played Postgres gives them: a run
that had ended must stay as it was; a run still under way (a schedule tick's) may end meanwhile."""

from __future__ import annotations

import pytest

from floe_deploy.helm.smoke_upgrade import UpgradeFacts

pytestmark = pytest.mark.requirement("007-FR-056", evidence="plumbing")


def upgraded(**changes: object) -> UpgradeFacts:
    """Facts of an upgrade that held, with `changes` applied."""
    facts = UpgradeFacts(
        from_image="floe/dagster-previous:1-dagster1.9.3", to_image="floe/dagster:2",
        revision_before="a", revision_after="b", revision_when_quiesced={"webserver": "a"},
        migrate_runs=1, runs_before={"done": "SUCCESS"}, runs_after={"done": "SUCCESS"},
        events_before=40, events_after=40, snapshots_before=[1], snapshots_after=[1, 2],
        rows_before=100, rows_after=150, rows_added_since=50, inflight_status="SUCCESS",
        new_run_status="SUCCESS", new_run_image="floe/dagster:2", rollback="refused: restore",
    )  # fmt: skip
    return facts.model_copy(update=changes)


def test_an_upgrade_that_held_has_no_problems() -> None:
    assert upgraded().problems() == []


def test_a_schedule_run_under_way_before_may_end_during_the_upgrade() -> None:
    facts = upgraded(runs_before={"done": "SUCCESS", "tick": "STARTING"},
                     runs_after={"done": "SUCCESS", "tick": "SUCCESS"})  # fmt: skip
    assert facts.ended_before() == {"done": "SUCCESS"}
    assert facts.problems() == []


def test_a_run_that_had_ended_and_changed_is_a_problem() -> None:
    facts = upgraded(runs_after={"done": "FAILURE"})
    assert facts.problems() == [
        "runs that had ended before the upgrade changed or were lost: {'done': 'SUCCESS → FAILURE'}"
    ]


def test_a_run_under_way_that_is_gone_is_a_problem() -> None:
    facts = upgraded(runs_before={"done": "SUCCESS", "tick": "STARTED"})
    assert facts.problems() == ["runs under way before the upgrade are gone: ['tick']"]


def test_lost_event_log_entries_are_a_problem() -> None:
    assert upgraded(events_after=38).problems() == ["event log entries 40 before, 38 after"]
