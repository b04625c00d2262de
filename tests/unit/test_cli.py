"""The `skill-router` command: what a contact-centre engineer runs against their matrix."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from skill_router.cli import main

EXAMPLES = Path(__file__).parents[2] / "examples"
SEED = str(EXAMPLES / "seed_skill_matrix.yaml")


def write(tmp_path: Path, text: str, name: str = "skill_matrix.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_matrix_validates(example: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["matrix", "validate", str(example)]) == 0
    assert "rules OK" in capsys.readouterr().out


def test_validate_lists_every_problem_with_file_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write(tmp_path, "skill_matrix:\n  - intent_keyword: billing\n    skill_id: nope\n    priority: urgent\n")
    assert main(["matrix", "validate", path]) == 1
    out = capsys.readouterr().out
    assert f"{path}:3 rule 1 'skill_id'" in out and f"{path}:4 rule 1 'priority'" in out


def test_validate_names_a_missing_file(capsys: pytest.CaptureFixture[str]):
    assert main(["matrix", "validate", "no/such.yaml"]) == 1
    assert "no/such.yaml: no such file" in capsys.readouterr().err


def test_explain_says_which_rule_matches_what_it_writes_and_who_is_emailed(capsys: pytest.CaptureFixture[str]):
    assert main(["matrix", "explain", SEED, "--intent", "I want to dispute my BILLING statement"]) == 0
    out = capsys.readouterr().out
    assert "rule 1 '1-billing'" in out and "'billing'" in out and "billing.lead@example.com" in out


def test_explain_without_a_match_says_why_for_each_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write(
        tmp_path,
        "skill_matrix:\n  - intent_keyword: soporte\n    skill_id: 5b1c2f7e-0000-4000-8000-000000000002\n"
        "    queues: [q-es]\n",
    )
    assert main(["matrix", "explain", path, "--intent", "soporte", "--queue", "q-en"]) == 3
    assert "only for queues q-es" in capsys.readouterr().out


def test_upload_refuses_a_broken_file_and_puts_a_good_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    broken = write(tmp_path, "skill_matrix: [", "broken.yaml")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="matrix")
        assert main(["matrix", "upload", broken, "--bucket", "matrix"]) == 1
        assert s3.list_objects_v2(Bucket="matrix").get("KeyCount") == 0
        assert main(["matrix", "upload", SEED, "--bucket", "matrix"]) == 0
        assert s3.get_object(Bucket="matrix", Key="skill_matrix.yaml")["Body"].read() == Path(SEED).read_bytes()
    assert "uploaded" in capsys.readouterr().out


def test_diff_shows_the_intents_whose_outcome_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    new = write(tmp_path, Path(SEED).read_text().replace("priority: high", "priority: low"), "new.yaml")
    assert main(["matrix", "diff", SEED, new]) == 4
    out = capsys.readouterr().out
    assert "'billing':" in out and "1 of 3 sample intents change outcome" in out
    assert main(["matrix", "diff", SEED, SEED]) == 0
