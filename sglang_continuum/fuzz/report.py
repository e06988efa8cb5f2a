"""The per-category table and the JSON summary of a campaign."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from sglang_continuum.fuzz.campaign import Result
from sglang_continuum.fuzz.send import FAILURES

COLUMNS = ("cases", "2xx", "4xx", "5xx/crash")


def table_rows(res: Result) -> dict[str, dict[str, int]]:
    rows: dict[str, Counter] = defaultdict(Counter)
    for o in res.outcomes:
        row = rows[o.category]
        row["cases"] += 1
        row["5xx/crash" if o.verdict in FAILURES else o.verdict] += 1
    total = Counter()
    for row in rows.values():
        total.update(row)
    out = {cat: {c: rows[cat][c] for c in COLUMNS} for cat in sorted(rows)}
    out["total"] = {c: total[c] for c in COLUMNS}
    return out


def markdown(res: Result) -> str:
    lines = ["| category | " + " | ".join(COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for cat, row in table_rows(res).items():
        name = f"**{cat}**" if cat == "total" else cat
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:,}" for c in COLUMNS) + " |")
    return "\n".join(lines)


def summary(res: Result, meta: dict) -> dict:
    done = [a for a in res.agents if not a.errors]
    return {
        **meta,
        "passed": res.passed,
        "seconds": round(res.seconds, 1),
        "table": table_rows(res),
        "failures": [o.__dict__ for o in res.outcomes if o.verdict in FAILURES],
        "problems": res.problems,
        "agents": {"programs": len(res.agents), "finished": len(done),
                   "turns": sum(a.turns_done for a in res.agents),
                   "prompt_tokens": sum(a.prompt_tokens for a in res.agents),
                   "cached_tokens": sum(a.cached_tokens for a in res.agents)},
        "final_state": res.final,
    }


def write(path: Path, res: Result, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary(res, meta), indent=2, default=str) + "\n")
