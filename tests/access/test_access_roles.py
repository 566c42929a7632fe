"""The one table: every Action for every Role, through the guard, refusals audited."""
from __future__ import annotations

import pytest

from facerec_core.access import REQUIRED_ROLE, Action, Role, allowed, require
from facerec_core.access.roles import GUARDS, LABELS, role_table
from facerec_core.errors import AccessError, NotAllowedError
from tests.access.conftest import ROLES, principal

VIEWER = {Action.VIEW_HOME, Action.VIEW_METRICS, Action.VIEW_DATASET}
OPERATOR = VIEWER | {Action.RECOGNIZE, Action.VERIFY, Action.LIVE_WEBCAM, Action.AUTHENTICATE,
                       Action.VIEW_HISTORY}
EXPECTED = {Role.VIEWER: VIEWER, Role.OPERATOR: OPERATOR, Role.ADMIN: set(Action)}


def test_every_action_has_a_role_a_label_and_a_place():
    assert set(REQUIRED_ROLE) == set(Action) == set(LABELS) == set(GUARDS)
    table = role_table()
    assert [row[0] for row in table][:3] == ["view_home", "view_metrics", "view_dataset"]
    assert {row[0] for row in table} == {a.value for a in Action} and len(table) == len(Action)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(Action))
def test_each_action_for_each_role(access, role, action):
    who = principal(role)
    if action in EXPECTED[role]:
        assert allowed(role, action)
        require(who, action, access.audit, target="t", where="test")
        assert access.audit.events() == []  # an allowed check records nothing by itself
    else:
        assert not allowed(role, action)
        with pytest.raises(NotAllowedError) as refused:
            require(who, action, access.audit, target="t", where="test")
        message = str(refused.value)
        assert f"needs the {REQUIRED_ROLE[action].value} role; {who.name} is {role.value}" in message
        assert isinstance(refused.value, PermissionError) and isinstance(refused.value, AccessError)
        (event,) = access.audit.events()
        assert (event.actor, event.role, event.action, event.outcome, event.target, event.where) == \
               (who.name, role.value, action.value, "denied", "t", "test")


def test_nobody_signed_in_is_refused_everything(access):
    for action in Action:
        with pytest.raises(NotAllowedError, match="nobody is signed in"):
            require(None, action, access.audit)
    events = access.audit.events(limit=100)
    assert len(events) == len(Action) and {e.actor for e in events} == {"anonymous"}


def test_unknown_actions_and_roles_are_never_allowed():
    assert not allowed(Role.ADMIN, "drop_tables")
    assert not allowed("superuser", Action.VIEW_HOME)
    assert allowed("operator", "recognize")
    with pytest.raises(ValueError, match="use one of admin, operator, viewer"):
        Role.parse("root")
