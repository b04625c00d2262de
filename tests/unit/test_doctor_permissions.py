"""Deploy step 6 says doctor checks "each permission of step 1" (issue 21): it checked 5 of the 8
rows, and probed `directory:user:view` for `GET /api/v2/users/{id}`, which the SDK documents as
needing no permission ("Requires no permissions", UsersApi.md get_user) as the README's table says."""

from __future__ import annotations

import re
from pathlib import Path

from skill_router.cli.doctor import PERMISSIONS

ROOT = Path(__file__).parents[2]


def readme_rows() -> list[tuple[str, str | None]]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| endpoint | permission (as the SDK documents it) |") :].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        endpoint_cell, permission_cell = line.split("|")[1:3]
        endpoint = re.search(r"`([A-Z]+ /api/v2/[^`]+)`", endpoint_cell)
        permission = re.search(r"`([a-zA-Z]+:[a-zA-Z]+:[a-zA-Z]+)`", permission_cell)
        assert endpoint, line
        rows.append((endpoint.group(1), permission.group(1) if permission else None))
    return rows


def test_doctor_knows_every_row_of_the_readme_s_permission_table():
    assert [(endpoint, permission) for endpoint, permission, _ in PERMISSIONS] == readme_rows()


def test_get_user_needs_no_permission_as_the_sdk_documents():
    permission = {endpoint: permission for endpoint, permission, _ in PERMISSIONS}["GET /api/v2/users/{id}"]
    assert permission is None
