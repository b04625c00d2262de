"""The real `skill-router` command fed what a shell can hand it (issue 19, class 11): file names
that are not UTF-8, absurd numbers and durations, empty strings, a closed pipe, and a diff at the
10,000-rule limit. Each is one line on stderr (or, for a closed pipe, nothing) and the README's
exit code, never "a bug: please report it"."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.attack.test_cli_errors import BARE, CLI, FAKE, ROOT, SEED, one_line

# What a desktop with a UTF-8 locale gives Python: strict UTF-8 on stdout (in the C.UTF-8 locale
# CPython writes undecodable bytes back as they came; on en_US.UTF-8 and macOS it does not).
UTF8_DESKTOP = {"PYTHONIOENCODING": "utf-8"}
LATIN1_NAME = "caf\xe9.yaml".encode("latin-1")


def run(args: list[str | bytes], env: dict[str, str] | None = None, cwd: Path = ROOT, **kw):
    return subprocess.run(
        [CLI, *args], env={**BARE, **(env or {})}, cwd=cwd, capture_output=True, timeout=60, check=False, **kw
    )


def text(done: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[str]:
    out, err = ((stream or b"").decode("utf-8", "replace") for stream in (done.stdout, done.stderr))
    return subprocess.CompletedProcess(done.args, done.returncode, out, err)


def latin1_file(tmp_path: Path, content: bytes) -> bytes:
    path = os.fsencode(tmp_path) + b"/" + LATIN1_NAME
    with open(path, "wb") as file:
        file.write(content)
    return path


def test_a_latin1_file_name_is_validated_and_named(tmp_path: Path):
    path = latin1_file(tmp_path, Path(SEED).read_bytes())
    done = text(run(["matrix", "validate", path], UTF8_DESKTOP))
    assert done.returncode == 0 and not done.stderr, done.stderr
    assert "caf\\xe9.yaml: 3 rules OK" in done.stdout


def test_a_broken_matrix_with_a_latin1_name_names_it_and_its_line(tmp_path: Path):
    path = latin1_file(tmp_path, b"skill_matrix: [\n")
    done = text(run(["matrix", "validate", path], UTF8_DESKTOP))
    assert done.returncode == 1 and "Traceback" not in done.stderr and "a bug" not in done.stderr, done.stderr
    assert "caf\\xe9.yaml:1: not valid YAML" in done.stdout


@pytest.mark.parametrize("command", ["explain", "diff", "missing"])
def test_explain_and_diff_of_a_latin1_name(tmp_path: Path, command: str):
    path = latin1_file(tmp_path, Path(SEED).read_bytes())
    if command == "explain":
        done = text(run(["matrix", "explain", path, "--intent", "billing"], UTF8_DESKTOP))
        assert done.returncode == 0 and not done.stderr, done.stderr
    elif command == "diff":
        done = text(run(["matrix", "diff", path, SEED], UTF8_DESKTOP))
        assert done.returncode == 0 and not done.stderr, done.stderr
    else:
        done = text(run(["matrix", "validate", path + b".missing"], UTF8_DESKTOP))
        one_line(done, 1, "caf\\xe9.yaml.missing: no such file")


@pytest.mark.parametrize(
    "since",
    [
        "1000000000000000000000000000000d",
        "99999999999999",
        "-1d",
        "nan",
        "",
        " ",
        "9" * 5000,
        "1h\udcff",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
    ids=[
        "1e30-days",
        "huge-seconds",
        "negative",
        "nan",
        "empty",
        "blank",
        "5000-digits",
        "undecodable",
        "before-year-1-in-utc",
        "after-year-9999-in-utc",
    ],
)
def test_an_absurd_since_is_a_usage_error(since: str):
    done = text(run(["audit", "--table", "t", "--region", "us-east-1", f"--since={since}"], FAKE))
    one_line(done, 2, "--since")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["audit", "--table", "t", "--region", "us-east-1", "--conversation="], "--conversation"),
        (["audit", "--table", "t", "--region", "us-east-1", "--conversation", "x" * 5000], "--conversation"),
        (["matrix", "validate", SEED, "--max-wait", "0"], "--max-wait"),
        (["matrix", "validate", SEED, "--max-wait", "9" * 40 + "d"], "--max-wait"),
        (["matrix", "validate", SEED, "--lookback-days", "31"], "--lookback-days"),
        (["matrix", "validate", SEED, "--lookback-days", "1.5"], "--lookback-days"),
        (["matrix", "explain", SEED, "--intent", "billing", "--waited", "9" * 5000], "--waited"),
        (["matrix", "explain", SEED, "--intent", "billing", "--intent-attribute="], "--intent-attribute"),
        (["matrix", "diff", SEED, SEED, "--intent-attribute", " "], "--intent-attribute"),
        (["matrix", "upload", SEED, "--bucket=", "--region", "us-east-1"], "--bucket"),
        (["matrix", "upload", SEED, "--bucket", "b", "--key=", "--region", "us-east-1"], "--key"),
    ],
    ids=[
        "empty-conversation",
        "huge-conversation",
        "max-wait-0",
        "max-wait-huge",
        "lookback-past-31-days",
        "lookback-fraction",
        "waited-5000-digits",
        "empty-intent-attribute",
        "blank-intent-attribute",
        "empty-bucket",
        "empty-key",
    ],
)
def test_odd_arguments_are_usage_errors(args: list[str], words: str):
    one_line(text(run(args, FAKE)), 2, words)


@pytest.mark.parametrize(
    "content",
    [
        "skill_matrix:\n  - intent_keyword: billing\n    skill_id: x\n".encode("utf-16-le"),
        b"\x00" * 100,
        b"skill_matrix:\n  - intent_keyword: \xed\xa0\x80\n",
        b"\xef\xbb\xbf" * 3 + b"skill_matrix: []\n",
    ],
    ids=["utf16-without-bom", "nul-bytes", "encoded-surrogate", "three-boms"],
)
def test_a_matrix_in_an_odd_encoding_is_refused_with_its_name(tmp_path: Path, content: bytes):
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    done = text(run(["matrix", "validate", str(path)], UTF8_DESKTOP))
    assert done.returncode == 1 and "Traceback" not in done.stderr and "a bug" not in done.stderr, done.stderr
    assert str(path) in done.stdout


def test_a_file_far_past_the_size_limit_is_refused_without_reading_it(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as file:
        file.truncate(8 << 30)  # sparse: 8 GB that a full read would have to hold in memory
    done = text(run(["matrix", "validate", str(path)]))
    assert done.returncode == 1 and "the limit is 1000000" in done.stdout, done.stderr


@pytest.mark.parametrize(
    "args",
    [["matrix", "validate", SEED], ["matrix", "explain", SEED, "--intent", "billing"], ["--help"]],
    ids=["validate", "explain", "help"],
)
def test_a_closed_pipe_ends_the_command_quietly(args: list[str]):
    """`skill-router ... | head`: the reader is gone before anything is written. Like other Unix
    tools, nothing on stderr and the status of a process ended by SIGPIPE (128 + 13)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [CLI, *args], env=BARE, cwd=ROOT, stdout=write, stderr=subprocess.PIPE, timeout=60, check=False
        )
    finally:
        os.close(write)
    assert done.stderr.decode() == "" and done.returncode == 141, (done.returncode, done.stderr)


def _many_rules(count: int, skill: str) -> str:
    lines = ["skill_matrix:"]
    for i in range(count):
        queue = f"\n    queues: [q-{i % 50}]" if i % 10 == 0 else ""
        lines.append(f"  - intent_keyword: kw{i:05d}x\n    skills: [{skill if i % 1000 == 0 else 'Base'}]{queue}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_a_diff_at_the_rule_limit_is_the_quick_rollback_check_the_readme_promises(tmp_path: Path):
    """The issue measured 134 s (every sample tried on every rule, in every queue). A process of
    its own, cut at 60 s: a generous bound for a linear diff on a loaded machine, and far below the
    quadratic figure."""
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(_many_rules(10_000, "Old"))
    new.write_text(_many_rules(10_000, "New"))
    done = subprocess.run(
        [CLI, "matrix", "diff", str(old), str(new)],
        env=BARE,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4, done.stderr
    assert done.stdout.splitlines()[-1] == "10 of 10000 sample intents change outcome"


def test_output_to_a_full_disk_is_one_line():
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [CLI, "matrix", "validate", SEED], env=BARE, cwd=ROOT, stdout=full, stderr=subprocess.PIPE, timeout=60
        )
    one_line(text(done), 1, "cannot write its output", "No space left on device")


@pytest.mark.parametrize("closed", ["stdout", "both"])
def test_a_command_started_without_stdout_still_does_its_work(closed: str):
    """`skill-router matrix validate f >&-`: Python has no sys.stdout at all; the check still runs
    and its exit code still says whether the file is valid."""
    shell = f"{CLI} matrix validate {SEED} >&-" + (" 2>&-" if closed == "both" else "")
    done = subprocess.run(["/bin/sh", "-c", shell], env=BARE, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_audit_never_writes_control_characters_to_the_terminal():
    """A reason is an error's text, partly Genesys' answer: an escape sequence or a newline in it
    must not repaint the operator's terminal or split a row."""
    from skill_router.audit import render

    entry = {
        "updated_at": "2026-12-05T18:00:00Z",
        "conversation_id": "3f9a2f3e-0000-4000-8000-000000000001",
        "outcome": "failed",
        "reason": "bad\x1b[2J\x1b]0;owned\x07\nrow\u202egnp.exe",
    }
    out = render([entry])
    assert len(out.splitlines()) == 3
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "bad\\x1b[2J" in out
