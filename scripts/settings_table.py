"""Write the README's settings table from the one table in skill_router/settings.py.

python scripts/settings_table.py          rewrite README.md between the settings markers
python scripts/settings_table.py --check  exit 1 when README.md differs (tests/unit/test_settings_table.py)
"""

from __future__ import annotations

import sys
from pathlib import Path

from skill_router.settings import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- settings table: written by scripts/settings_table.py from skill_router/settings.py -->\n"
END = "<!-- end of settings table -->\n"


def rewritten(text: str) -> str:
    head, found, rest = text.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not found or not found_end:
        raise SystemExit(f"{README}: the settings markers are missing")
    return head + BEGIN + markdown_table() + END + tail


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = rewritten(text)
    if "--check" in argv:
        if new != text:
            print("README.md's settings table differs from skill_router/settings.py: run scripts/settings_table.py")
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
