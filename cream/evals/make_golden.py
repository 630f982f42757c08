"""Build the golden scenarios from the bundled sample and write them to ``cream/evals/golden/``.

    python -m cream.evals.make_golden            # (re)write every scenario file
    python -m cream.evals.make_golden --check    # exit 1 if a committed file differs from what this builds

Snapshots come from ``build_snapshot`` over the sample (ADBE, COST, MA, XLK) at 19:00 UTC of a chosen day,
then, where a scenario needs it, edited (a forced regime, synthetic events). Approver scenarios carry the
rule analysts' and researchers' outputs as their fixed research and a hand-built plan on top of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cream.evals.golden_cases import CASES
from cream.evals.scenarios import GOLDEN_DIR, GoldenScenario, scenario_path


def build_all() -> list[GoldenScenario]:
    return [build() for build in CASES]


def render(s: GoldenScenario) -> str:
    return json.dumps(s.model_dump(mode="json"), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cream.evals.make_golden", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=GOLDEN_DIR)
    p.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    args = p.parse_args(argv)
    built = build_all()
    if args.check:
        stale = [s.name for s in built if not scenario_path(s.name, args.out).is_file()
                 or scenario_path(s.name, args.out).read_text() != render(s)]
        extra = sorted({f.stem for f in args.out.glob("*.json")} - {s.name for s in built})
        for n in stale + extra:
            print(f"stale golden scenario: {n}", file=sys.stderr)
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for s in built:
        scenario_path(s.name, args.out).write_text(render(s))
        print(scenario_path(s.name, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
