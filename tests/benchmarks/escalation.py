"""Benchmark: what LLM escalation costs on replays, against escalating every batch.

    python -m tests.benchmarks.escalation [--pace S] [FILE ...]

Replays the bundled sample and the development sets (or the FILEs given) embedded, with
escalation on against the local generateContent stand-in (the real google-genai client;
tokens counted by the stand-in as about four characters each of what was really sent
and answered). Prints, per replay, the calls made and per 100,000 entries, next to
the calls the seed's design would make (one per batch), the tokens and the estimated
cost at the default prices. `--pace S` re-times each file's lines evenly, S seconds
apart: the same lines as a dense stream (0.01 s is 6,000 lines a minute).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.standins.gemini import GeminiStandIn
from workers import sample
from workers.embedded import run_embedded
from workers.settings import Settings

DEVSETS = Path(__file__).resolve().parents[2] / "workers" / "devsets" / "data"


def replay(path: Path, base_url: str, pace_s: float | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate({
            "database_url": f"sqlite:///{tmp}/bench.db", "channels": [],
            "llm": {"api_key": "bench-key", "base_url": base_url},
        })
        with path.open("rb") as stream:
            s = run_embedded(stream, source_name=path.name.split(".")[0], settings=settings,
                             progress=False, llm=True, pace_s=pace_s)
    assert s.llm is not None
    per = 100_000 / s.entries
    return {
        "entries": s.entries, "batches": s.batches, "alerts": s.alerts,
        "calls": s.llm.requests, "calls_per_100k": s.llm.requests * per,
        "every_batch_per_100k": s.batches * per,
        "tokens": s.llm.prompt_tokens + s.llm.output_tokens,
        "cost": s.llm.cost_usd, "cost_per_100k": s.llm.cost_usd * per,
        "every_batch_cost_per_100k": (s.llm.cost_usd / max(s.llm.requests, 1)) * s.batches * per,
    }


def main(paths: list[Path], pace_s: float | None = None) -> None:
    with GeminiStandIn() as gemini:
        gemini.count_tokens = True
        print("| replay | entries | batches | alerts | LLM calls | calls / 100k "
              "| every batch / 100k | tokens | est. cost | cost / 100k (every batch) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for path in paths:
            r = replay(path, gemini.base_url, pace_s)
            name = path.name.split(".")[0] + (f" (every {pace_s:g} s)" if pace_s else "")
            print(f"| {name} | {r['entries']:,.0f} | {r['batches']:,.0f} "
                  f"| {r['alerts']:.0f} | {r['calls']:.0f} | {r['calls_per_100k']:.1f} "
                  f"| {r['every_batch_per_100k']:,.0f} | {r['tokens']:,.0f} | ${r['cost']:.4f} "
                  f"| ${r['cost_per_100k']:.4f} (${r['every_batch_cost_per_100k']:.2f}) |",
                  flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pace", type=float, default=None)
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    main(args.files or [sample.sample_path(), *sorted(DEVSETS.glob("*.jsonl.gz"))], args.pace)
