"""The layer rule of host/src (stated in host/src/lib.rs), checked.

A module imports only modules to its right in LAYERS (so nothing right of glados can name
GLaDOS's error type). Nothing right of glados uses axum or utoipa, except the fake Alpaca server
(veda/alpaca/fake*, behind the `fake-alpaca` feature). Nothing but cli and main.rs imports clap. No file is over 800 lines.

Usage: python3 check_layers.py [SRC_DIR]   (default host/src); exit 1 with every violation listed.
"""

import pathlib
import re
import sys

LAYERS = ["cli", "app", "glados", "notify", "runs", "veda", "greta", "marvin", "walle", "events", "domain"]
MAX_LINES = 800
HTTP_CRATES = ("axum", "utoipa")


def module_of(src: pathlib.Path, path: pathlib.Path) -> str | None:
    first = path.relative_to(src).parts[0]
    name = first[:-3] if first.endswith(".rs") else first
    return name if name in LAYERS else None


def crate_paths(text: str) -> set[str]:
    """Top-level modules named through `crate::…`, including grouped `use crate::{a, b::c}`."""
    found = set(re.findall(r"\bcrate::(\w+)", text))
    for group in re.findall(r"\bcrate::\{([^}]*)\}", text, flags=re.S):
        found.update(re.findall(r"(?:^|[,{\s])(\w+)(?=\s*(?:::|,|$|\}))", group))
    return {m for m in found if m in LAYERS}


def strip_comments(text: str) -> str:
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def main() -> int:
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "host/src")
    problems = []
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(src).as_posix()
        raw = path.read_text(encoding="utf-8")
        lines = raw.count("\n") + (0 if raw.endswith("\n") else 1)
        if lines > MAX_LINES:
            problems.append(f"{rel}: {lines} lines (at most {MAX_LINES}): split it by concept")
        text = strip_comments(raw)
        module = module_of(src, path)
        if module is None:
            if rel not in ("lib.rs", "main.rs"):
                problems.append(f"{rel}: not in a known layer; add the module to LAYERS and lib.rs")
            continue
        rank = LAYERS.index(module)
        for used in sorted(crate_paths(text)):
            if used != module and LAYERS.index(used) < rank:
                problems.append(f"{rel}: {module} imports {used}, which is to its left in {', '.join(LAYERS)}")
        fake = rel.startswith("veda/alpaca/fake")
        if rank > LAYERS.index("glados") and not fake:
            for c in HTTP_CRATES:
                if re.search(rf"\b{c}::", text):
                    problems.append(f"{rel}: {module} uses {c} (only glados speaks HTTP)")
        if module != "cli" and re.search(r"\bclap::", text):
            problems.append(f"{rel}: {module} uses clap (only cli parses the command line)")
    for p in problems:
        print(f"check-layers: {p}", file=sys.stderr)
    if problems:
        print(f"check-layers: FAILED ({len(problems)} problems); the rule is in host/src/lib.rs", file=sys.stderr)
        return 1
    print(f"check-layers: ok - {' > '.join(LAYERS)}; no file over {MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
