"""Replay programs against a server URL and save what was measured (the library entry
point behind ``python -m sglang_continuum.replay``; the A/B matrix calls it too)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Sequence

from sglang_continuum.workload import Program

from .client import PlainAgentSender, HttpSender, RadixSessionSender
from .plain import PlainLoad, PlainTraffic
from .driver import Concurrency, Poisson, Replay
from .prompts import shared_prefix
from .report import knobs_line, markdown_table, plot_jct_cdf, write_json
from .results import summarize

logger = logging.getLogger(__name__)


def replay(url: str, programs: Sequence[Program], load: Poisson | Concurrency, *,
           seed: int = 0, shared_prefix_tokens: int = 0, tool_hints: bool = True,
           progress: bool = True, timeout: float = 1800.0, label: str = "run",
           meta: dict | None = None, stop: threading.Event | None = None,
           sessions: bool = False, plain_agents: bool = False,
           plain: PlainLoad | None = None) -> dict:
    """Play ``programs`` against the SGLang server at ``url``; returns a JSON-able dict:
    ``label, load, meta, summary, programs`` (per-program and per-turn details).
    ``sessions``: one SGLang radix-native session per program (see RadixSessionSender).
    ``plain_agents``: send no program id, ``last_turn`` or tool name (see PlainAgentSender).
    ``plain``: single-turn requests without identity sent beside the agents while they
    run (see PlainTraffic); their summary is ``out["plain"]``."""
    if sessions and plain_agents:
        raise ValueError("replay: sessions and plain agents exclude each other (a session "
                         "id is an identity)")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(p.turns) for p in programs), desc=label, unit="turn",
                   dynamic_ncols=True)
    shared = shared_prefix(shared_prefix_tokens, seed) if shared_prefix_tokens else ()
    send = HttpSender(url, timeout=timeout)
    if sessions:
        send = RadixSessionSender(send, url)
    if plain_agents:
        send = PlainAgentSender(send)
    runner = Replay(programs, send, load, stop=stop, seed=seed,
                    shared=shared, tool_hints=tool_hints,
                    on_turn=(lambda _t: bar.update(1)) if bar is not None else None)
    traffic = PlainTraffic(plain, HttpSender(url, timeout=timeout)).start() if plain else None
    try:
        results = runner.run()
    finally:
        plain_summary = traffic.stop(timeout) if traffic is not None else None
        if bar is not None:
            bar.close()
    summary = summarize(results)
    summary["label"] = label
    return {"label": label, "url": url, "load": load.describe(), "meta": meta or {},
            "interrupted": runner.stop.is_set(), "summary": summary,
            "programs": [r.to_dict() for r in results],
            **({"plain": plain_summary} if plain_summary is not None else {})}


def save(out: dict, out_dir: Path, plot: bool = True) -> list[Path]:
    """``{label}.json``, ``{label}.md`` (and ``{label}-jct-cdf.png``) under ``out_dir``."""
    out_dir = Path(out_dir)
    label = out["label"]
    paths = [out_dir / f"{label}.json", out_dir / f"{label}.md"]
    write_json(paths[0], out)
    knobs = out["meta"].get("scaling", {})
    text = [f"# replay {label}", "", f"- server: {out['url']}", f"- load: {out['load']}",
            f"- {knobs_line(knobs)}", f"- workload: {out['meta'].get('workload', '?')}",
            f"- interrupted: {out['interrupted']}", "", markdown_table([out["summary"]]), ""]
    paths[1].write_text("\n".join(text))
    if plot:
        jct = [p["jct_s"] for p in out["programs"] if p["jct_s"] is not None]
        if jct:
            paths.append(out_dir / f"{label}-jct-cdf.png")
            plot_jct_cdf({label: jct}, paths[-1], f"{label}: {out['load']}")
    return paths
