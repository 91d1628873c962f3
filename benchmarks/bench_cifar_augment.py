"""One augmented CIFAR-10 epoch of ``LeNetV2``: PIL transforms in a DataLoader against ``BatchAugment``.

The sources' pipeline: ``Resize(32)``, ``RandomHorizontalFlip``, ``RandomRotation(10)``,
``RandomAffine(0, shear=10, scale=(0.8, 1.2))``, ``ColorJitter(0.2, 0.2, 0.2)``,
``ToTensor``, ``Normalize(0.5, 0.5)`` on each PIL image, in a ``DataLoader``
with 0 and with 2 worker processes; against ``DeviceLoader`` +
``BatchAugment`` (the same augmentations on whole batches), also with the
model and the batches in the channels-last memory layout (as
``engine.fit(..., channels_last=True)`` does; the source's loop could use it
too, so that row is not part of the loader comparison), and with the model
compiled (``torch.compile``; ``mode="reduce-overhead"``, CUDA graphs, on CUDA),
its compile time measured apart from the epoch. Data: the CIFAR-10
subset ``cifar10_subset.npz`` (5,085 training images). Adam (lr 1e-3),
cross-entropy, batch 100 (the LeNet sources' settings). Prints a markdown table.

    .venv/bin/python benchmarks/bench_cifar_augment.py [--quick] [--threads 2]
"""

from __future__ import annotations

import statistics

import numpy as np
import torch
from torch.utils.data import DataLoader

import _common as C
from course_utils.data import ArrayImageDataset, BatchAugment, DeviceLoader
from course_utils.models import LeNetV2

HALF = (0.5, 0.5, 0.5)
VARIANTS = ("pil_w0", "pil_w2", "device", "device_cl", "compiled")
LABELS = {
    "pil_w0": "PIL transforms, DataLoader num_workers=0",
    "pil_w2": "PIL transforms, DataLoader num_workers=2",
    "device": "DeviceLoader + BatchAugment",
    "device_cl": "DeviceLoader + BatchAugment, channels_last",
    "compiled": "DeviceLoader + BatchAugment, torch.compile",
}


def pil_pipeline():
    """The sources' augmentation pipeline (= ``course_utils.data.preset("lenet_augment")``)."""
    from torchvision import transforms as T

    return T.Compose(
        [
            T.Resize(32),
            T.RandomHorizontalFlip(),
            T.RandomRotation(10),
            T.RandomAffine(0, shear=10, scale=(0.8, 1.2)),
            T.ColorJitter(0.2, 0.2, 0.2),
            T.ToTensor(),
            T.Normalize(HALF, HALF),
        ]
    )


def load(data_dir) -> tuple[ArrayImageDataset, tuple[np.ndarray, np.ndarray]]:
    """The training subset with the PIL pipeline, and the raw test arrays."""
    with np.load(data_dir / "cifar10_subset.npz") as npz:
        x, y, xt, yt = npz["x_train"], npz["y_train"], npz["x_test"], npz["y_test"]
        classes = [str(c) for c in npz["classes"]]
    return ArrayImageDataset(x, y, classes, source="subset", transform=pil_pipeline()), (xt, yt)


def make_loader(name: str, train: ArrayImageDataset, args, device: torch.device):
    """The loader of variant ``name``."""
    if name in ("device", "device_cl", "compiled"):
        augment = BatchAugment(generator=torch.Generator().manual_seed(args.seed))
        return DeviceLoader(
            train,
            args.batch_size,
            device=device,
            augment=augment,
            seed=args.seed,
            channels_last=name == "device_cl",
        )
    workers = 2 if name == "pil_w2" else 0
    return DataLoader(
        train,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(args.seed),
    )


def run_variant(name: str, train, test_loader, args, device, max_batches) -> dict:
    """A fresh LeNetV2 trained one epoch with variant ``name``: epoch and loader-only seconds, accuracy."""
    torch.manual_seed(args.seed)
    model = LeNetV2().to(device)
    trained, compile_s = model, None
    if name == "compiled":  # full batches and the shorter last one: two input shapes
        trained = C.compile_model(model, device)
        sizes = {args.batch_size, len(train) % args.batch_size or args.batch_size}
        compile_s = C.compile_warm_up(model, trained, [(n, 3, 32, 32) for n in sorted(sizes)], device=device)
    seconds = C.train_epoch(
        trained,
        make_loader(name, train, args, device),
        device=device,
        max_batches=max_batches,
        channels_last=name == "device_cl",
    )
    data = C.loader_pass(make_loader(name, train, args, device), device=device, max_batches=max_batches)
    return {
        "seconds": seconds,
        "data": data,
        "compile": compile_s,
        "acc": C.accuracy_of(model, test_loader, device=device),
    }


def main() -> None:
    """Parse arguments, time the three variants (interleaved), print the table."""
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=100)
    args = p.parse_args()
    device, threads = C.pick_device(args.device), C.setup_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    max_batches = 15 if args.quick else None
    train, test = load(args.data_dir)
    test_loader = DeviceLoader(test, 500, device=device, shuffle=False)
    results: dict[str, list[dict]] = {name: [] for name in C.chosen_variants(VARIANTS, args.variants)}
    for _ in range(repeats):
        for name in results:
            results[name].append(run_variant(name, train, test_loader, args, device, max_batches))
    batches = max_batches or -(-len(train) // args.batch_size)
    print(
        C.banner(
            "bench_cifar_augment",
            device,
            threads,
            f", {batches} batches of {args.batch_size}, {repeats} repeat(s)",
        )
    )
    print(table(results))


def table(results: dict[str, list[dict]]) -> str:
    """Markdown table: epoch seconds, compile, the loader alone, test accuracy, speed-up against
    0 and 2 workers (where those ran)."""
    med = {name: statistics.median(r["seconds"] for r in runs) for name, runs in results.items()}

    def ratio(base: str, name: str) -> str:
        return f"{med[base] / med[name]:.2f}x" if base in med else "-"

    rows = []
    for name, runs in results.items():
        accs = [100 * r["acc"] for r in runs]
        compiles = [r["compile"] for r in runs if r["compile"] is not None]
        rows.append(
            [
                LABELS[name],
                C.fmt_seconds([r["seconds"] for r in runs]),
                C.fmt_seconds(compiles) if compiles else "-",
                C.fmt_seconds([r["data"] for r in runs]),
                f"{statistics.mean(accs):.1f}",
                ratio("pil_w0", name),
                ratio("pil_w2", name),
            ]
        )
    header = [
        "loader",
        "epoch s",
        "compile s",
        "loader alone s",
        "test acc % (1 epoch)",
        "vs 0 workers",
        "vs 2 workers",
    ]
    return C.markdown_table(header, rows)


if __name__ == "__main__":
    main()
