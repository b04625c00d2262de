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
    assert "rule 1 'billing-" in out and "'billing'" in out and "billing.lead@example.com" in out


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


def test_diff_follows_attribute_and_queue_rules_and_says_unchanged_priority(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    old = write(
        tmp_path,
        "skill_matrix:\n  - keywords: [fraud]\n    attribute: botIntent\n    skills: [Fraud]\n"
        "  - keywords: [soporte]\n    skills: [Spanish]\n    queues: [q-es]\n",
        "old.yaml",
    )
    new = write(
        tmp_path,
        "skill_matrix:\n  - keywords: [fraud]\n    attribute: botIntent\n    skills: [Fraud, Security]\n"
        "  - keywords: [soporte]\n    skills: [Spanish, Support]\n    queues: [q-es]\n",
        "new.yaml",
    )
    assert main(["matrix", "diff", old, new]) == 4
    out = capsys.readouterr().out
    assert "botIntent='fraud':" in out and "Fraud, Security; priority unchanged" in out
    assert "'soporte':\n  before in queue q-es:" in out and "None" not in out
    assert "2 of 2 sample intents change outcome" in out


RULE_28 = "skill_matrix:\n  - id: es\n    keywords: [soporte]\n{body}"


@pytest.mark.parametrize(
    ("old_body", "new_body", "before", "after"),
    [
        (
            "    require: {Spanish: 3}\n",
            "    require: {Spanish: 2}\n",
            "requires Spanish at 3 or better",
            "requires Spanish at 2 or better",
        ),
        (
            "    require: {Spanish: 3}\n",
            '    expression: \'Skill("Spanish") >= 3 | Skill("Billing") >= 4\'\n',
            "requires Spanish at 3 or better;",
            "requires Spanish at 3 or better, or Billing at 4 or better",
        ),
        (
            "    require: {Spanish: 3}\n",
            "    require: {Spanish: 3}\n    with_expression: and\n",
            "someone else's expression kept, the rule shadowed",
            "ANDed into someone else's expression",
        ),
        (
            "    require: {Spanish: 3}\n    escalate:\n      - after: 60\n        require: {Spanish: 2}\n",
            "    require: {Spanish: 3}\n    escalate:\n      - after: 60\n        require: none\n",
            "require instead: Spanish at 2 or better",
            "drop the rule's requirement",
        ),
    ],
    ids=["require", "expression", "with_expression", "step"],
)
def test_diff_shows_a_changed_requirement_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old_body: str, new_body: str, before: str, after: str
):
    old = write(tmp_path, RULE_28.format(body=old_body), "old.yaml")
    new = write(tmp_path, RULE_28.format(body=new_body), "new.yaml")
    assert main(["matrix", "diff", old, new]) == 4
    out = capsys.readouterr().out
    was, now = out.split("\n  after")[0], out.split("\n  after")[1]
    assert before in was and after in now, out
    assert "1 of 1 sample intents change outcome" in out


def test_diff_compares_regex_rules_on_the_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    old = write(
        tmp_path,
        "skill_matrix:\n  - id: bill\n    keywords: ['^bill(ing)?$']\n    match: regex\n    skills: [A]\n",
        "o.yaml",
    )
    new = write(
        tmp_path, "skill_matrix:\n  - id: bill\n    keywords: ['^bill$']\n    match: regex\n    skills: [A]\n", "n.yaml"
    )
    assert main(["matrix", "diff", old, new]) == 0
    assert "compared only on --samples" in capsys.readouterr().out
    samples = tmp_path / "samples.txt"
    samples.write_text("billing\nbill\n")
    assert main(["matrix", "diff", old, new, "--samples", str(samples)]) == 4
    out = capsys.readouterr().out
    assert "'billing':\n  before: rule" in out and "after:  no match" in out and "1 of 2" in out


def test_the_readme_examples_of_explain_match_a_rule(capsys: pytest.CaptureFixture[str]):
    import re
    import shlex

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    commands = re.findall(r"^skill-router matrix explain skill_matrix\.yaml (--intent \"[^\"]+\")", readme, re.M)
    assert commands
    for options in commands:
        assert main(["matrix", "explain", SEED, *shlex.split(options)]) == 0, options


def test_audit_never_cuts_an_id_and_marks_cut_prose():
    from skill_router.audit import render

    long_id = "c" * 80
    table = render([{"conversation_id": long_id, "outcome": "failed", "reason": "r" * 100, "skills_after": ["s" * 70]}])
    assert long_id in table and "s" * 70 in table
    assert "r" * 59 + "…" in table and "r" * 60 not in table
