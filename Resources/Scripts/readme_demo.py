"""The README's demo output, made by the demo itself: rewrite the block between the markers, or check it.

    .venv/bin/python Resources/Scripts/readme_demo.py demo_output.txt          # write it into README.md
    .venv/bin/python Resources/Scripts/readme_demo.py demo_output.txt --check  # exit 1 when they differ

``make readme`` runs the demo's first command and this script; ``Testing/test_readme.py`` runs the
same command and fails when the README shows anything else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- demo-output: made by `make readme` -->", "<!-- /demo-output -->"


def demo_block(output: str) -> str:
    """The README block for the demo's printed output."""
    return f"{START}\n```\n{output.strip()}\n```\n{END}"


def readme_block(text: str) -> str:
    """The block the README shows now."""
    start, end = text.index(START), text.index(END) + len(END)
    return text[start:end]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", type=Path, help="the demo run's standard output")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the README differs")
    arguments = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    wanted = demo_block(arguments.output.read_text(encoding="utf-8"))
    if arguments.check:
        if readme_block(text) != wanted:
            print("README.md's demo output differs from the demo's: run `make readme`", file=sys.stderr)
            return 1
        return 0
    README.write_text(text.replace(readme_block(text), wanted), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
