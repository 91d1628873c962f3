"""Estimate each lesson's full-profile time on one H100/H200 from what can be measured on a CPU.

For every training lesson this measures, here: the input pipeline's cost per image (the
lesson's own transform, in the main process), and per training step of its model the number
of dispatched tensor operations (on a GPU each is at least one kernel launch) and the
floating-point work (``FlopCounterMode``). It then prints the arithmetic of
``benchmarks/README.md`` with the assumptions below, per epoch:

    data    = images x pipeline cost / workers                 (workers overlap the GPU)
    compute = steps x max(ops x LAUNCH_US, flops / GPU_FLOPS)  (launch-bound or math-bound)
    epoch   = max(data, compute) + WORKER_START                (num_workers > 0)

    .venv/bin/python benchmarks/estimate_gpu_time.py [--workers 8] [--images 200]
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import _common as C
from course_utils import data, models

# Assumptions (see benchmarks/README.md): host cost of one eager op incl. its CUDA launch;
# TF32 convolution throughput cuDNN reaches for these models in fp32 training on an H100/H200;
# forking the DataLoader workers at the start of each pass (no persistent workers).
LAUNCH_US = 10.0
GPU_FLOPS = 40e12
WORKER_START_S = 0.3
NOTEBOOK_START_S = 6.0  # kernel start, imports, data loading, figures (smoke-profile floor of 00-02)


@dataclass(frozen=True)
class Training:
    """One kind of training pass a lesson makes in its full profile."""

    lesson: str
    what: str
    model: type[nn.Module] | str
    pipeline: str
    batch: int
    images: int  # per epoch
    passes: int  # epochs x runs (validation passes counted as a third of a training pass)
    workers: bool = True  # goes through make_loader(num_workers=cfg.num_workers)


def _resnet50() -> nn.Module:
    import torchvision

    return torchvision.models.resnet50(weights=None, num_classes=10)


MODELS = {"resnet50": _resnet50}
SUBSET_TRAIN, SUBSET_VAL, MNIST_TRAIN, MNIST_TEST = 5085, 1017, 60000, 10000
# passes: epochs x runs, plus 0.2 per epoch for the validation pass (1,017 of 5,085 images).
TRAININGS = [
    Training("03", "2 runs x 2 epochs, batch 4 (+ test)", models.TutorialNet, "blitz", 4, SUBSET_TRAIN, 4.4),
    Training(
        "04", "per sample, 1 epoch (no loader)", models.MnistCNN, "mnist", 1, MNIST_TRAIN, 1, workers=False
    ),
    Training("04", "batches of 50, 1 epoch (+ 2 tests)", models.MnistCNN, "mnist", 50, MNIST_TRAIN, 1.33),
    Training("05", "LeNet v1 + v2, 12 epochs each (+ val)", models.LeNetV2, "lenet", 100, SUBSET_TRAIN, 28.8),
    Training(
        "06",
        "plain + augmented, 12 epochs each (+ val)",
        models.LeNetV2,
        "lenet_augment",
        100,
        SUBSET_TRAIN,
        28.8,
    ),
    Training("07", "ResNet-50, 224 px, 30 epochs (+ val)", "resnet50", "resnet", 32, SUBSET_TRAIN, 36),
    Training(
        "08", "PIL: data pass + 1 epoch (+ val)", models.LeNetV2, "lenet_augment", 100, SUBSET_TRAIN, 2.2
    ),
    Training(
        "08",
        "DeviceLoader: 6 epochs (BatchAugment on the GPU)",
        models.LeNetV2,
        "device",
        100,
        SUBSET_TRAIN,
        6,
        workers=False,
    ),
]


class OpCounter(TorchDispatchMode):
    """Counts the tensor operations dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def sample_images(pipeline: str, n: int, data_dir) -> list[Image.Image]:
    """``n`` PIL images like the lesson's (CIFAR-10 subset, or MNIST digits)."""
    if pipeline == "device":
        return []
    if pipeline == "mnist":
        raw = np.fromfile(data_dir / "MNIST" / "raw" / "t10k-images-idx3-ubyte", dtype=np.uint8)[16:]
        return [Image.fromarray(a, mode="L") for a in raw.reshape(-1, 28, 28)[:n]]
    with np.load(data_dir / "cifar10_subset.npz") as npz:
        return [Image.fromarray(a) for a in npz["x_test"][:n]]


def pipeline_seconds(pipeline: str, images: list[Image.Image]) -> float:
    """Seconds per image for the lesson's transform (07: from a PNG file in an image folder;
    ``device``: none, the batches are made on the GPU)."""
    if pipeline == "device":
        return 0.0
    transform = data.preset(pipeline, image_size=224)
    if pipeline == "resnet":
        blobs = []
        for img in images:
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            blobs.append(buf.getvalue())
        transform(Image.open(io.BytesIO(blobs[0])).convert("RGB"))  # warm-up
        start = time.process_time()
        for blob in blobs:
            transform(Image.open(io.BytesIO(blob)).convert("RGB"))
        return (time.process_time() - start) / len(blobs)
    transform(images[0])
    start = time.process_time()
    for img in images:
        transform(img)
    return (time.process_time() - start) / len(images)


def step_profile(model: nn.Module, batch: int, shape: tuple[int, ...]) -> tuple[int, float]:
    """(ops, flops) of one training step: forward, loss, backward, Adam as on CUDA (``foreach``).

    The number of operations does not depend on the batch size and the work grows in
    proportion to it, so both are counted on a batch of at most 4 (ResNet-50 at 32 would
    take minutes per step on this CPU)."""
    probe = min(batch, 4)
    inputs, labels = torch.randn(probe, *shape), torch.randint(10, (probe,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    criterion = nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad()
        criterion(model(inputs), labels).backward()
        optimizer.step()

    step()  # Adam's state exists from here on, as in every later step
    counter = OpCounter()
    with counter:
        step()
    flops = FlopCounterMode(display=False)
    with flops:
        step()
    return counter.count, float(flops.get_total_flops()) * batch / probe


def main() -> None:
    """Measure, estimate, print the table."""
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=8, help="DataLoader workers on the GPU machine")
    p.add_argument("--images", type=int, default=200, help="images timed per pipeline")
    args = p.parse_args()
    threads = C.setup_threads(args.threads)
    print(C.banner("estimate_gpu_time", torch.device("cpu"), threads))
    header = [
        "lesson",
        "training",
        "passes",
        "data ms/img (CPU)",
        "ops/step",
        "GFLOP/step",
        "GPU data s/epoch",
        "GPU compute s/epoch",
        "GPU s",
        "GPU s, num_workers=0",
    ]
    rows, per_lesson, per_lesson_0 = [], {}, {}
    for t in TRAININGS:
        shape = {"mnist": (1, 28, 28), "resnet": (3, 224, 224)}.get(t.pipeline, (3, 32, 32))
        pipe_s = pipeline_seconds(t.pipeline, sample_images(t.pipeline, args.images, args.data_dir))
        torch.manual_seed(0)
        model = MODELS[t.model]() if isinstance(t.model, str) else t.model()
        ops, flops = step_profile(model, t.batch, shape)
        steps = -(-t.images // t.batch)
        workers = args.workers if t.workers else 1
        data_s = t.images * pipe_s / workers
        compute_s = steps * max(ops * LAUNCH_US * 1e-6, flops / GPU_FLOPS)
        # workers overlap data with compute; the main process does one after the other
        epoch = max(data_s, compute_s) + WORKER_START_S if t.workers else data_s + compute_s
        total = epoch * t.passes
        without = (t.images * pipe_s + compute_s) * t.passes  # what the CPU profiles' setting would cost
        per_lesson[t.lesson] = per_lesson.get(t.lesson, 0.0) + total
        per_lesson_0[t.lesson] = per_lesson_0.get(t.lesson, 0.0) + without
        rows.append(
            [
                t.lesson,
                t.what,
                t.passes,
                f"{1000 * pipe_s:.3f}",
                ops,
                f"{flops / 1e9:.2f}",
                f"{data_s:.2f}",
                f"{compute_s:.2f}",
                f"{total:.0f}",
                f"{without:.0f}",
            ]
        )
    print(C.markdown_table(header, rows))
    print()
    lessons = [
        [k, f"{v:.0f}", f"{v + NOTEBOOK_START_S:.0f}", f"{per_lesson_0[k] + NOTEBOOK_START_S:.0f}"]
        for k, v in sorted(per_lesson.items())
    ]
    lessons.insert(0, ["00-02", "0", f"{3 * NOTEBOOK_START_S:.0f}", f"{3 * NOTEBOOK_START_S:.0f}"])
    total, total_0 = (sum(d.values()) + 9 * NOTEBOOK_START_S for d in (per_lesson, per_lesson_0))
    lessons.append(["all nine", "", f"{total:.0f}", f"{total_0:.0f}"])
    header = [
        "lesson",
        "training s",
        f"notebook s (+{NOTEBOOK_START_S:.0f} s each)",
        "notebook s, num_workers=0",
    ]
    print(C.markdown_table(header, lessons))


if __name__ == "__main__":
    main()
