"""Write docs/config.md from the config schema.

python scripts/gen_config_docs.py          # regenerate
python scripts/gen_config_docs.py --check  # exit 1 if docs/config.md is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bei_cli.config.reference import render_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = render_markdown()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
        if current != text:
            print(f"{DOC} is out of date: run python scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
