"""The role model: the whole role x action matrix, written out by hand, and how identities get roles."""

from __future__ import annotations

import pytest

from assay.security.identity import (
    PERMISSIONS,
    Action,
    Identity,
    PermissionDeniedError,
    Role,
    can,
    identity_for,
)
from assay.spec.access import AccessSpec

# One row per action; columns: viewer trainer approver deployer admin predict. "x" grants.
GRID = """
datasets:read        x x x x x .
datasets:write       . x . . x .
models:read          x x x x x .
models:train         . x . . x .
models:approve       . . x . x .
models:manage        . x . x x .
models:override      . . . . x .
models:score         . x . x x x
deployments:read     x x x x x .
deployments:change   . . . x x .
logs:read            x x x x x .
monitoring:run       . x . x x .
data:erase           . . . . x .
keys:manage          . . . . x .
predict              . . . . x x
"""
COLUMNS = (Role.VIEWER, Role.TRAINER, Role.APPROVER, Role.DEPLOYER, Role.ADMIN, Role.PREDICT)
EXPECTED = {
    (role, Action(line.split()[0])): mark == "x"
    for line in GRID.strip().splitlines()
    for role, mark in zip(COLUMNS, line.split()[1:], strict=True)
}


def test_the_grid_names_every_role_and_every_action() -> None:
    assert set(COLUMNS) == set(Role) == set(PERMISSIONS)
    assert {action for _, action in EXPECTED} == set(Action)


@pytest.mark.parametrize(("role", "action"), sorted(EXPECTED, key=str))
def test_role_grants_exactly_what_the_grid_says(role: Role, action: Action) -> None:
    assert can(role, action) is EXPECTED[(role, action)]
    identity = Identity.of("someone", [role])
    if EXPECTED[(role, action)]:
        assert identity.require(action) is identity
    else:
        with pytest.raises(PermissionDeniedError) as info:
            identity.require(action, subject="credit-default:2")
        message = str(info.value)
        assert f"someone (roles: {role.value}) may not {action.value} on credit-default:2" in message
        assert all(r.value in info.value.hint for r in COLUMNS if EXPECTED[(r, action)])


def test_least_privilege_separations_the_issue_relies_on() -> None:
    # whoever approves cannot deploy and whoever deploys cannot approve; a service key reads nothing
    assert not can(Role.APPROVER, Action.DEPLOY) and not can(Role.DEPLOYER, Action.APPROVE)
    assert not can(Role.TRAINER, Action.APPROVE) and not can(Role.PREDICT, Action.READ_MODELS)
    assert PERMISSIONS[Role.ADMIN] == frozenset(Action)


def test_several_roles_add_up() -> None:
    both = Identity.of("ci", ["trainer", "deployer"])
    assert both.can(Action.TRAIN) and both.can(Action.DEPLOY) and not both.can(Action.APPROVE)


def test_local_mode_makes_everyone_admin_and_declared_users_get_their_roles() -> None:
    assert identity_for("anyone", AccessSpec()).roles == {Role.ADMIN}
    assert identity_for("anyone", AccessSpec(), source="env").roles == {Role.ADMIN}
    # a name from the network is never made admin by local mode
    assert identity_for("anyone", AccessSpec(), source="proxy-header").roles == frozenset()
    assert identity_for("anyone", AccessSpec(default_roles=["viewer"]), source="proxy-header").roles == {Role.VIEWER}
    team = AccessSpec(users={"alice": ["trainer"], "bob": ["approver", "viewer"]}, default_roles=["viewer"])
    assert identity_for("alice", team).roles == {Role.TRAINER}
    assert identity_for("bob", team, source="proxy-header") == Identity.of("bob", ["approver", "viewer"], "proxy-header")
    assert identity_for("mallory", team).roles == {Role.VIEWER}
    assert identity_for("mallory", AccessSpec(users={"alice": ["admin"]})).roles == frozenset()
