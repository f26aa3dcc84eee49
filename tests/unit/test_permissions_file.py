"""infra/permissions.conf is the generator's output, and the generator covers every role."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.permissions import CREW_WORKER_ROLES, Deployment, generate, main, password_variables

SHIPPED = Path(__file__).parents[2] / "infra" / "permissions.conf"


def test_the_shipped_file_is_the_generated_one() -> None:
    assert SHIPPED.read_text() == generate(), "run: python -m tools.permissions > " + str(SHIPPED)


def test_each_worker_role_has_its_own_user_and_password() -> None:
    users = password_variables()
    for role in CREW_WORKER_ROLES:
        assert f"worker-{role}" in users
        assert f"user: worker-{role}, password: ${users[f'worker-{role}']}" in generate()
    assert "worker" not in users  # no user shared by every worker role
    assert len(set(users.values())) == len(users)


def test_a_deployment_gets_its_own_roles_stream_and_root() -> None:
    text = generate(Deployment(worker_roles=("qa",), stream="S", root="r", blob_bucket="B"))
    assert "user: worker-qa" in text and "worker-backend" not in text
    assert '"$KV.S_LEADERS.>"' in text and '"r.ev.*.*.*.*.task.assigned"' in text
    assert '"$JS.API.CONSUMER.MSG.NEXT.*.work-qa"' in text  # denied to every other user
    assert '"$O.B.>"' in text


def test_a_role_that_is_not_a_token_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--worker-roles", "a.b"])
    assert exit_info.value.code == 2
    assert "worker role 'a.b'" in capsys.readouterr().err
