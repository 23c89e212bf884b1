"""Read an arithmetic eval.json's curves at multiples of the input length n = 2k + 1.

    algosynth eval RUN --sizes 20,200 --n 500 --seed 4242 --steps-per-symbol 2 --out DIR
    python benchmarks/read_curve.py DIR/eval.json

For a Neural GPU told to think past its trained count, this says whether the answer is there at
step n, when every instance is first right, and whether it stays right to the end of the curve:
exact match at n, 1.25n, 1.5n and 2n (where the curve reaches), the first step at which every
instance is right, and the lowest exact match from that step on.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def read(curve: list[float], size: int) -> str:
    n = 2 * size + 1
    at = [f"{f}n: {curve[math.ceil(f * n) - 1]:.1%}" for f in (1.0, 1.25, 1.5, 2.0) if math.ceil(f * n) <= len(curve)]
    first = next((step for step, value in enumerate(curve, 1) if value == 1.0), None)
    offset = f"n {'+' if first and first >= n else '-'} {abs((first or n) - n)}"
    held = f"all right from step {first} ({offset}), lowest after: {min(curve[first - 1:]):.1%}" if first else "never all right"
    return f"{', '.join(at)}; {held}; {len(curve)} steps"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_json", type=Path)
    args = parser.parse_args()
    try:
        result = json.loads(args.eval_json.read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: cannot read {args.eval_json} as an eval.json ({error}); give the file `algosynth eval` wrote") from None
    for scored in result["sizes"] + result.get("suites", []):
        print(f"{scored.get('suite') or 'random'} at size {scored['size']} ({scored['n']} instances): {read(scored['curve'], scored['size'])}")


if __name__ == "__main__":
    main()
