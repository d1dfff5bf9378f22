"""CLI start-up as a ratio to `python -c "import torch"`, measured interleaved in one run (the machine may be
shared: ratios from one run are comparable, absolute seconds are not).

Goal (issue 22): `softfer --version`, `softfer --help` and `softfer CMD --help` well under 1x (they import
no torch); a command that needs torch pays about torch's own import (`softfer models list`, ~1x plus its
work).

    python benchmarks/cli_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time

CASES = {
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    "softfer --version": ["softfer", "--version"],
    "softfer --help": ["softfer", "--help"],
    "softfer predict --help": ["softfer", "predict", "--help"],
    "softfer train --help": ["softfer", "train", "--help"],
    "softfer models list": ["softfer", "models", "list"],
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv``."""
    cpu, before = _children_cpu(), time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - before, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, choices=range(1, 101), metavar="N")
    args = parser.parse_args()
    if shutil.which("softfer") is None:
        raise SystemExit("softfer is not on PATH: pip install -e . first")
    walls: dict[str, list[float]] = {k: [] for k in CASES}
    cpus: dict[str, list[float]] = {k: [] for k in CASES}
    for argv in CASES.values():  # warm-up round (file cache), not counted
        _time(argv)
    for _ in range(args.repeats):  # interleaved, so that load on the machine hits every case alike
        for name, argv in CASES.items():
            wall, cpu = _time(argv)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base = statistics.median(walls['python -c "import torch"'])
    print(f"{args.repeats} runs each, interleaved")
    print("| command | median wall (s) | median CPU (s) | wall ratio to import torch |")
    print("|---|---|---|---|")
    for name in CASES:
        wall = statistics.median(walls[name])
        print(f"| `{name}` | {wall:.2f} | {statistics.median(cpus[name]):.2f} | {wall / base:.2f}x |")


if __name__ == "__main__":
    main()
