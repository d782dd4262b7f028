"""Mutation testing of the core modules (``make mutation``; not part of ``make test``).

mutmut (pinned in setup.cfg's ``test`` extra, configured in its ``[mutmut]`` section) changes
one operator, constant or call at a time in the modules named there and runs the tests that
reach the changed function; a change no test notices is a *survivor*. This script runs it in a
copy of the working tree (so edits made meanwhile, by you or anyone sharing the tree, change
nothing mid-run and ``mutants/`` never appears in it), then prints the score per module and
every survivor as a diff, and writes them to ``REPORT`` (markdown; default
``WORKDIR/merprep-mutation/report.md``).

Usage: ``python tools/mutation.py [--workdir DIR] [--report FILE] [-j N] [PATTERN ...]``
(PATTERNs are mutmut names such as ``mertrain.metrics.*``; default: :data:`TARGETS`).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: what is mutated: whole modules, and in fitting.py only the epoch selection
TARGETS = (
    "mertrain.metrics.*",
    "mertrain.protocols.splits.*",
    "mertrain.protocols.tasks.*",
    "mertrain.protocols.types.*",
    "mertrain.fitting.xǁEpochSelectorǁ*",
    "mertrain.published.*",
    "merprep.store.validate.*",
    "merprep.store.writer.*",
    "merprep.store.codec.*",
    "merprep.store.digest.*",
    "merprep.datasets.tables.*",
    "merprep.datasets.cells.*",
    "merprep.frames.sampling.*",
)
#: mutmut's exit codes (mutmut/stats.py) by what they mean here
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout", 37: "killed", -11: "segfault", -9: "segfault", None: "not run"}  # fmt: skip


def copy_tree(dest: Path) -> None:
    """The tracked and untracked-but-not-ignored files of the working tree, as they are now."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    if dest.exists():
        shutil.rmtree(dest)
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def module_of(mutant: str) -> str:
    return mutant.partition("__mutmut_")[0].rpartition(".")[0].split(".xǁ")[0].rstrip(".")


def results(work: Path) -> dict[str, dict[str, int | None]]:
    """mutant name -> exit code, from mutmut's ``mutants/**/*.py.meta`` files."""
    out: dict[str, dict[str, int | None]] = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        out[str(meta.relative_to(work / "mutants"))[: -len(".meta")]] = json.loads(
            meta.read_text()
        )["exit_code_by_key"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", default=list(TARGETS))
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")))
    parser.add_argument(
        "--report", type=Path, default=None, help="default: WORKDIR/merprep-mutation/report.md"
    )
    parser.add_argument("-j", "--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    work = args.workdir / "merprep-mutation"
    copy_tree(work)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.workers),
         *args.patterns],
        cwd=work, env=env,
    )  # fmt: skip
    minutes = (time.monotonic() - start) / 60
    wanted = {
        name: code
        for codes in results(work).values()
        for name, code in codes.items()
        if any(fnmatch.fnmatch(name, p) for p in args.patterns)
    }
    per_module: dict[str, Counter] = {}
    for name, code in wanted.items():
        per_module.setdefault(module_of(name), Counter())[STATUS.get(code, "suspicious")] += 1
    lines = [
        f"mutmut {'finished' if run.returncode == 0 else f'exited {run.returncode}'} "
        f"in {minutes:.0f} min with {args.workers} workers",
        "",
        "| module | mutants | killed | survived | no tests | timeout | other | score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for module, c in sorted(per_module.items()):
        total = sum(c.values())
        other = total - sum(c[k] for k in ("killed", "survived", "no tests", "timeout"))
        score = (c["killed"] + c["timeout"]) / total if total else 0.0
        lines.append(
            f"| {module} | {total} | {c['killed']} | {c['survived']} | {c['no tests']} | "
            f"{c['timeout']} | {other} | {score:.0%} |"
        )
    lines += ["", "## Survivors", ""]
    for name, code in sorted(wanted.items()):
        if STATUS.get(code) in ("survived", "no tests"):
            diff = subprocess.run(
                [sys.executable, "-m", "mutmut", "show", name],
                cwd=work, env=env, capture_output=True, text=True,
            ).stdout  # fmt: skip
            lines += [f"### {name} ({STATUS[code]})", "", "```diff", diff.strip(), "```", ""]
    text = "\n".join(lines) + "\n"
    print(text)
    (args.report or work / "report.md").write_text(text)
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
