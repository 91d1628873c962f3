"""``make gpu-check``: every notebook in the full profile and both benchmarks on CUDA, in one report.

    python .ci/gpu_check.py --precheck          # stops at once on a machine without an NVIDIA GPU
    python .ci/gpu_check.py --make make [--system-python /path/to/python]

The second form runs ``make gpu-test`` (with a JUnit XML file for per-notebook seconds), then
``benchmarks/bench_mnist_epoch.py`` and ``benchmarks/bench_cifar_augment.py`` on CUDA, and writes
``build/gpu-report.md``: device and versions, seconds per notebook, every recorded figure beside
its floor, and the benchmark tables. It exits non-zero when any step failed, after the report.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"
REPORT = BUILD / "gpu-report.md"
JUNIT = BUILD / "gpu-junit.xml"
BENCHMARKS = ("bench_mnist_epoch.py", "bench_cifar_augment.py")


def precheck() -> None:
    """Exit with a message unless this machine has an NVIDIA driver (no torch import: fast)."""
    driver = (
        shutil.which("nvidia-smi") or Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia").exists()
    )
    if not driver:
        raise SystemExit(
            "make gpu-check needs CUDA: this machine has no NVIDIA GPU driver (no nvidia-smi, "
            "/dev/nvidia0 or /proc/driver/nvidia). Run it on a GPU machine; here, run make test."
        )


def environment() -> list[str]:
    """Markdown lines: device, driver and versions (this interpreter's torch must see CUDA)."""
    import torch
    import torchvision

    if not torch.cuda.is_available():
        raise SystemExit(
            f"make gpu-check needs CUDA: torch {torch.__version__} in {sys.executable} "
            "sees no GPU (a CPU build of torch, or no driver for it)."
        )
    props = torch.cuda.get_device_properties(0)
    smi = shutil.which("nvidia-smi")
    driver = (
        subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
        ).stdout.strip()
        if smi
        else "unknown"
    )
    return [
        f"- device: {props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs;"
        f" driver {driver}; {os.cpu_count()} CPU cores",
        f"- torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}),"
        f" torchvision {torchvision.__version__}, Python {platform.python_version()} ({sys.executable})",
    ]


def run(cmd: list[str], log: Path) -> tuple[int, float, str]:
    """Run ``cmd`` from the repository root, echoing and saving its output; (status, seconds, output)."""
    print("+ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    with subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        lines = []
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
    output = "".join(lines)
    log.write_text(output, encoding="utf-8")
    return proc.returncode, time.perf_counter() - start, output


def notebook_seconds(junit: Path) -> dict[str, float]:
    """Seconds per file from pytest's JUnit XML (nbval reports one test per cell)."""
    if not junit.is_file():
        return {}
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("file") or case.get("classname", "?")
        seconds[name] += float(case.get("time", 0))
    return dict(seconds)


def figures_against_floors(since: float) -> list[str]:
    """Markdown rows: every figure recorded since ``since`` beside its floor (or 'no floor')."""
    sys.path.insert(0, str(REPO))
    from course_utils import report

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    floors = tomllib.loads((REPO / "tests" / "expected_results.toml").read_text(encoding="utf-8"))
    rows = []
    for r in report.load_results():
        path = report.build_dir() / "results" / f"{r['notebook']}.json"
        if path.is_file() and path.stat().st_mtime < since:
            continue
        table = floors.get(r["notebook"], {}).get(r["profile"], {}).get(r["data_kind"], {})
        for figure, value in r["figures"].items():
            floor = table.get(figure)
            verdict = "no floor" if floor is None else ("ok" if value >= floor else "BELOW")
            if figure == "seconds":
                verdict = "(time)" if floor is None else verdict
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            rows.append(
                f"| {r['notebook']} | {r['profile']} | {r['data_kind']} | {figure} | {shown} | "
                f"{'-' if floor is None else floor} | {verdict} |"
            )
    return rows


def main() -> None:
    """Precheck, or run everything and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precheck", action="store_true", help="only check for an NVIDIA driver")
    parser.add_argument("--make", default="make")
    parser.add_argument("--system-python", default=None, help="USE_SYSTEM_TORCH=1 with this interpreter")
    parser.add_argument(
        "--bench-args", default="", help="extra arguments for both benchmarks, e.g. --repeats 2"
    )
    args = parser.parse_args()
    precheck()
    if args.precheck:
        return
    BUILD.mkdir(exist_ok=True)
    lines = [
        "# GPU check",
        "",
        f"Written by `make gpu-check` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        *environment(),
        "",
    ]
    since = time.time()
    system = ["USE_SYSTEM_TORCH=1", f"PYTHON={args.system_python}"] if args.system_python else []
    status, seconds, _ = run(
        [*args.make.split(), "gpu-test", *system, f"PYTEST_ARGS=--junitxml={JUNIT}"], BUILD / "gpu-test.log"
    )
    failures = [] if status == 0 else [f"make gpu-test exited {status} (build/gpu-test.log)"]
    lines += [
        f"## make gpu-test: {'passed' if status == 0 else 'FAILED'} in {seconds:.0f} s",
        "",
        "| notebook or test file | seconds |",
        "| --- | ---: |",
    ]
    lines += [f"| {name} | {secs:.1f} |" for name, secs in sorted(notebook_seconds(JUNIT).items())]
    lines += [
        "",
        "### Recorded figures and their floors",
        "",
        "| notebook | profile | data | figure | value | floor | |",
        "| --- | --- | --- | --- | ---: | ---: | --- |",
        *figures_against_floors(since),
        "",
    ]
    for bench in BENCHMARKS:
        status, seconds, output = run(
            [sys.executable, f"benchmarks/{bench}", "--device", "cuda", *args.bench_args.split()],
            BUILD / f"gpu-{bench.removesuffix('.py')}.log",
        )
        if status:
            failures.append(f"{bench} exited {status} (build/gpu-{bench.removesuffix('.py')}.log)")
        lines += [f"## {bench} ({seconds:.0f} s{'' if status == 0 else ', FAILED'})", "", output.strip(), ""]
    lines += ["## Verdict", "", *(f"- {f}" for f in failures or ["every step passed"]), ""]
    REPORT.write_text("\n".join(lines), encoding="utf-8")
    print(f"gpu-check: wrote {REPORT.relative_to(REPO)}", flush=True)
    if failures:
        raise SystemExit("gpu-check: " + "; ".join(failures))


if __name__ == "__main__":
    main()
