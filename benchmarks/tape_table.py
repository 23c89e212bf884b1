"""Summarise tape runs (RUNS_DIR/PRESET-sSEED/eval.json) as success rate mean ± std over seeds, per size."""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def main(runs: Path) -> None:
    table: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    trained: dict[str, list[str]] = defaultdict(list)
    for eval_file in sorted(runs.glob("*-s*/eval.json")):
        preset = eval_file.parent.name.rsplit("-s", 1)[0]
        for size in json.loads(eval_file.read_text())["sizes"]:
            table[preset][size["size"]].append(100 * size["success_rate"])
        last = [json.loads(line) for line in (eval_file.parent / "metrics.jsonl").read_text().splitlines() if line][-1]
        seconds = sum(json.loads(line)["seconds"] for line in (eval_file.parent / "metrics.jsonl").read_text().splitlines() if line)
        state = "solved" if last["solved"] else f"not solved (window accuracy {last['window_acc']:.2f})"
        trained[preset].append(f"{last['step']} updates, {seconds / 60:.1f} min, length {last['length']} {state}")
    print("| preset | seeds | " + " | ".join(f"length {s}" for s in (100, 1000)) + " | training (per seed) |")
    print("|---|---|---|---|---|")
    for preset, sizes in table.items():
        cells = []
        for size in (100, 1000):
            values = sizes.get(size, [])
            std = statistics.pstdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.1f} ± {std:.1f}%" if values else "-")
        print(f"| {preset} | {len(sizes[100])} | " + " | ".join(cells) + f" | {'; '.join(trained[preset])} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
