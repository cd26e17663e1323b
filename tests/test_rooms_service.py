"""web.rooms_service.GroupResults: a closed room's results are computed once per rules version, not per request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from shipped import RULES_PATH

from recommender import load_rules
from recommender.group import aggregate
from rooms.store import MemberView, RoomView
from web.rooms_service import GroupResults

MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ruleset():
    return load_rules(RULES_PATH)


def room(*members: tuple[str, dict[str, str] | None]) -> RoomView:
    return RoomView(id="r", title="T", rules_fingerprint="f", created_at=MOMENT, closes_at=None, revealed_at=MOMENT,
                    ends_at=MOMENT, members=tuple(MemberView(i, name, answers, MOMENT, MOMENT)
                                                  for i, (name, answers) in enumerate(members)))


def answers_of(ruleset, index: int) -> dict[str, str]:
    question = ruleset.questions[index % len(ruleset.questions)]
    return {question.id: question.choices[index % len(question.choices)].id}


def test_the_same_room_is_computed_once_and_equals_a_fresh_aggregate(ruleset):
    results = GroupResults()
    team = room(("Ann", answers_of(ruleset, 0)), ("Bo", answers_of(ruleset, 1)), ("Cy", None))
    first = results.of(ruleset, team)
    assert results.of(ruleset, room(*((m.name, m.answers) for m in team.members))) is first
    fresh = aggregate(ruleset, [(m.name, m.answers or {}) for m in team.members])
    assert first.as_json() == fresh.as_json()


@pytest.mark.parametrize("change", ["other answers", "another member", "another rules version"])
def test_anything_that_changes_the_results_is_computed_again(ruleset, change):
    results = GroupResults()
    team = room(("Ann", answers_of(ruleset, 0)), ("Bo", answers_of(ruleset, 1)))
    first = results.of(ruleset, team)
    rules = ruleset
    if change == "other answers":
        team = room(("Ann", answers_of(ruleset, 2)), ("Bo", answers_of(ruleset, 1)))
    elif change == "another member":
        team = room(("Ann", answers_of(ruleset, 0)), ("Bo", answers_of(ruleset, 1)), ("Cy", answers_of(ruleset, 3)))
    else:
        rules = load_rules(RULES_PATH)  # an equal file loaded again is another version object: a reload
    again = results.of(rules, team)
    assert again is not first
    assert again.as_json() == aggregate(rules, [(m.name, m.answers or {}) for m in team.members]).as_json()


def test_only_the_latest_rooms_are_kept(ruleset):
    results = GroupResults(kept=3)
    rooms = [room((f"m{i}", answers_of(ruleset, i))) for i in range(5)]
    computed = [results.of(ruleset, r) for r in rooms]
    assert [results.of(ruleset, r) is c for r, c in zip(rooms[2:], computed[2:])] == [True, True, True]
    assert results.of(ruleset, rooms[0]) is not computed[0]
