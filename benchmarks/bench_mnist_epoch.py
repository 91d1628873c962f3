"""One MNIST epoch of ``MnistCNN``: the sources' DataLoader loop against ``DeviceLoader``.

The source loop: ``torchvision.datasets.MNIST`` with ``ToTensor``, ``DataLoader``
(batch 50, shuffle), Adam (lr 1e-3), cross-entropy. The DeviceLoader variant
trains the same model, from the same initial weights, on the same images
(``mean=None``: plain ``ToTensor`` values). Both loops run a second time with
the model and batches in the channels-last memory layout (what
``engine.fit(..., channels_last=True)`` does), which speeds up the model's own
arithmetic on a CPU; that pair shows what the loader is worth once the model is
faster. A last variant trains with the DeviceLoader and ``torch.compile(model)``
(on CUDA with ``mode="reduce-overhead"``, i.e. CUDA graphs); its compile time is
measured apart from the epoch, by a warm-up on random batches before it. Every
model is then tested on the 10,000 test images. Prints a markdown table.

    .venv/bin/python benchmarks/bench_mnist_epoch.py [--quick] [--threads 2] [--variants source,compiled]
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.utils.data import DataLoader

import _common as C
from course_utils.data import DeviceLoader
from course_utils.models import MnistCNN

BATCH = 50


def load(data_dir, device: torch.device):
    """The train set (ToTensor) and a DeviceLoader over the test set."""
    from torchvision import datasets, transforms

    train = datasets.MNIST(root=str(data_dir), train=True, download=False, transform=transforms.ToTensor())
    test = datasets.MNIST(root=str(data_dir), train=False, download=False)
    test_loader = DeviceLoader(test, 500, device=device, shuffle=False, mean=None, std=None)
    return train, test_loader


VARIANTS = ("source", "device", "source_cl", "device_cl", "compiled")
LABELS = {
    "source": "source: MNIST + ToTensor + DataLoader(50)",
    "device": "DeviceLoader(50)",
    "source_cl": "source loop, channels_last",
    "device_cl": "DeviceLoader(50), channels_last",
    "compiled": "DeviceLoader(50), torch.compile",
}


def make_loader(name: str, train, args, device: torch.device):
    """The source's DataLoader or the DeviceLoader (both batch 50, shuffled, seeded)."""
    if name.startswith("source"):
        return DataLoader(
            train, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(args.seed)
        )
    return DeviceLoader(train, BATCH, device=device, mean=None, std=None, seed=args.seed)


def run_variant(name: str, train, test_loader, args, device: torch.device, max_batches) -> dict:
    """A fresh model trained one epoch with loader ``name``: epoch/setup/loader-only seconds, accuracy."""
    torch.manual_seed(args.seed)
    model = MnistCNN().to(device)
    start = time.perf_counter()
    loader = make_loader(name, train, args, device)
    setup = time.perf_counter() - start
    trained, compile_s = model, None
    if name == "compiled":  # 60,000 = 1,200 x 50: one input shape
        trained = C.compile_model(model, device)
        compile_s = C.compile_warm_up(model, trained, [(BATCH, 1, 28, 28)], device=device)
    seconds = C.train_epoch(
        trained, loader, device=device, max_batches=max_batches, channels_last=name.endswith("_cl")
    )
    acc = C.accuracy_of(model, test_loader, device=device)  # eager: evaluation is not what is timed
    data = C.loader_pass(make_loader(name, train, args, device), device=device, max_batches=max_batches)
    return {"seconds": seconds, "setup": setup, "data": data, "acc": acc, "compile": compile_s}


def main() -> None:
    """Parse arguments, time both loops, print the table."""
    args = C.parser(__doc__.splitlines()[0]).parse_args()
    device, threads = C.pick_device(args.device), C.setup_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    max_batches = 200 if args.quick else None
    train, test_loader = load(args.data_dir, device)
    results: dict[str, list[dict]] = {name: [] for name in C.chosen_variants(VARIANTS, args.variants)}
    for _ in range(repeats):  # interleaved, so a busy moment hits both
        for name in results:
            results[name].append(run_variant(name, train, test_loader, args, device, max_batches))
    batches = max_batches or len(train) // BATCH + (len(train) % BATCH > 0)
    print(
        C.banner("bench_mnist_epoch", device, threads, f", {batches} batches of {BATCH}, {repeats} repeat(s)")
    )
    print(table(results))


def table(results: dict[str, list[dict]]) -> str:
    """Markdown table: epoch seconds (median, range), setup, compile, loader alone, test accuracy,
    speed-up against the first variant (the source loop, unless ``--variants`` says otherwise)."""
    base = statistics.median(r["seconds"] for r in next(iter(results.values())))
    rows = []
    for name, runs in results.items():
        med = statistics.median(r["seconds"] for r in runs)
        accs = [r["acc"] for r in runs]
        compiles = [r["compile"] for r in runs if r["compile"] is not None]
        rows.append(
            [
                LABELS[name],
                C.fmt_seconds([r["seconds"] for r in runs]),
                f"{statistics.median(r['setup'] for r in runs):.3f}",
                C.fmt_seconds(compiles) if compiles else "-",
                C.fmt_seconds([r["data"] for r in runs]),
                f"{100 * statistics.mean(accs):.2f} ({100 * min(accs):.2f}-{100 * max(accs):.2f})",
                f"{base / med:.2f}x",
            ]
        )
    header = ["loader", "epoch s", "setup s", "compile s", "loader alone s", "test acc %", "speed-up"]
    return C.markdown_table(header, rows)


if __name__ == "__main__":
    main()
