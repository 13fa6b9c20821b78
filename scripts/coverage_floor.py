"""Check the test suite's coverage against a floor that only rises (scripts/test runs this after pytest).

    .venv/bin/python scripts/coverage_floor.py tests/coverage-floor

Reads the coverage data pytest-cov wrote ($COVERAGE_FILE, else .coverage; lines and branches, [tool.coverage]
in pyproject.toml), prints the ten least covered modules and the totals: lines, branches, and the combined
figure coverage.py reports (covered lines + branches over all lines + branches). Exits 1 when the combined
figure is below the floor in the file. When it is at least half a point above, it says by how much the floor
may rise: raise it in the same commit as the tests that lifted it (never lower it to make a change pass).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from coverage import Coverage

RAISE_STEP = 0.5  # percentage points above the floor worth a new floor


def main(floor_file: Path) -> int:
    floor = float(floor_file.read_text("utf-8").split()[0])
    cov = Coverage()
    cov.load()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        cov.json_report(outfile=str(out))
        data = json.loads(out.read_text("utf-8"))
    files = data["files"]
    worst = sorted(files.items(), key=lambda item: item[1]["summary"]["percent_covered"])[:10]
    print("least covered modules:")
    for name, entry in worst:
        summary = entry["summary"]
        print(f"  {summary['percent_covered']:5.1f} %  {name} "
              f"({summary['missing_lines']} lines, {summary['missing_branches']} branches not run)")
    totals = data["totals"]
    lines = 100.0 * totals["covered_lines"] / max(1, totals["num_statements"])
    branches = 100.0 * totals["covered_branches"] / max(1, totals["num_branches"])
    combined = float(totals["percent_covered"])
    print(f"coverage: {combined:.1f} % (lines {lines:.1f} % of {totals['num_statements']}, branches "
          f"{branches:.1f} % of {totals['num_branches']}); floor {floor:.1f} % ({floor_file})")
    if combined + 1e-9 < floor:
        print(f"coverage fell below the floor: {combined:.1f} % < {floor:.1f} %. Test the new code (or the "
              "code whose tests were removed); the floor never goes down.", file=sys.stderr)
        return 1
    if combined >= floor + RAISE_STEP:
        print(f"coverage is {combined - floor:.1f} points above the floor: raise it with "
              f"`echo {int(combined * 10) / 10:.1f} > {floor_file}` in the commit that brought the tests.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    raise SystemExit(main(Path(sys.argv[1])))
