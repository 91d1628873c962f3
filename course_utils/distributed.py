"""Many processes, one training run: the pieces ``python -m course_utils.train`` adds for DDP.

``torchrun --nproc_per_node=N -m course_utils.train ...`` starts N copies of the
script and tells each one who it is through environment variables (``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``). This module
turns them into a process group and gives the training loop what it needs:

* :func:`start` - the process group (gloo on the CPU, nccl on CUDA with one GPU
  per process chosen by ``LOCAL_RANK``), or a one-process :class:`Context`
  when the script runs without a launcher.
* :func:`wrap` - the model in ``DistributedDataParallel`` (one replica per
  process; gradients averaged by all-reduce during ``backward``).
* :func:`train_loader` - every process gets its share of each global batch from
  a ``DistributedSampler``, whose ``set_epoch`` the loader calls at the start of
  every pass (forget it and every epoch repeats the first epoch's order).
* :class:`ShardSampler` / :func:`eval_loader` - the validation set split
  without padding, so no image is counted twice.
* :func:`share_checkpoint` - every rank resumes from rank 0's checkpoint file.

The sums behind every loss and accuracy are all-reduced in ``engine``
(``epoch_totals``), so each process reports the figures of the whole run.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

__all__ = [
    "Context",
    "start",
    "stop",
    "wrap",
    "ShardSampler",
    "EpochLoader",
    "train_loader",
    "eval_loader",
    "share_checkpoint",
    "world_size_from_env",
    "torchrun_command",
]

INIT_TIMEOUT = datetime.timedelta(minutes=2)  # a peer that never comes fails the run instead of hanging


@dataclass(frozen=True)
class Context:
    """Who this process is: ``rank`` of ``world_size``, its ``device``, and the launcher's attempt."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None
    restart_count: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that prints and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether a process group is running (under torchrun, even with one process)."""
        return self.backend is not None


def world_size_from_env() -> int:
    """The number of processes a launcher started (``WORLD_SIZE``; 1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _launched() -> bool:
    """Whether torchrun (or another launcher) set the variables ``init_process_group`` reads."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def _device(local_rank: int, want_cuda: bool) -> torch.device:
    """``cuda:LOCAL_RANK`` (one GPU per process) when CUDA is wanted and present, else the CPU."""
    if want_cuda and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def start(*, cuda: bool = True) -> Context:
    """Join the process group torchrun prepared, or return a one-process context without it.

    gloo on the CPU, nccl on CUDA. After a torchrun restart the group is built
    on a fresh key space of the launcher's store (see :func:`_store`).
    """
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if not _launched():
        return Context(device=_device(0, cuda), restart_count=restart)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(local_rank, cuda)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend,
        store=_store(world, restart),
        rank=rank,
        world_size=world,
        timeout=INIT_TIMEOUT,
        device_id=device if device.type == "cuda" else None,
    )
    return Context(rank, local_rank, world, device, backend, restart)


def _store(world: int, restart: int) -> dist.Store | None:
    """The store to build the process group on: torchrun's, under an ``attempt_N/`` prefix.

    gloo connects the processes by publishing each one's address in the store
    under fixed keys. torchrun's agent hosts one store for the whole job
    (``TORCHELASTIC_USE_AGENT_STORE=True``), kept across restarts, so after a
    crash the keys still hold the dead processes' addresses, and a new process
    may read one before its peer overwrites it: ``Gloo connectFullMesh failed
    ... Connection refused``. A prefix per attempt (``TORCHELASTIC_RESTART_COUNT``)
    gives every attempt keys no earlier attempt wrote. Without a shared store
    (no torchrun, or ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1``) every attempt gets a
    new store, and None lets ``init_process_group`` build it from the environment.
    Use that variable on several machines: each machine's torchrun counts its own
    restarts, and the counts can differ (pytorch/pytorch#135712).
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    tcp = dist.TCPStore(addr, port, world, is_master=False, timeout=INIT_TIMEOUT)
    return dist.PrefixStore(f"course_utils/attempt_{restart}/", tcp)


def stop(ctx: Context) -> None:
    """Leave the process group (every rank, at the end of a run)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, ctx: Context) -> nn.Module:
    """``model`` in DistributedDataParallel when a process group runs, else unchanged.

    DDP copies rank 0's weights to every rank once, then averages the gradients
    during ``backward``. Save ``model.module`` (``checkpoint`` unwraps it).
    """
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, rank + 2 world, ...``: every sample exactly once over all ranks.

    ``DistributedSampler`` pads the dataset to a multiple of the world size by
    repeating its first samples, so that every rank gets as many batches (DDP's
    backward needs that). For evaluation there is no backward, and a duplicate
    would count twice in the accuracy; so the shards here differ by at most one.
    """

    def __init__(self, dataset_size: int, *, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.dataset_size, self.rank, self.world_size = dataset_size, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.dataset_size, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.dataset_size, self.world_size))


class EpochLoader:
    """A DataLoader over a ``DistributedSampler`` that calls ``sampler.set_epoch`` on every pass.

    ``engine.fit`` knows nothing of samplers, so the loader numbers its own
    passes, starting at ``epoch`` (set it to the first epoch to train when
    resuming). The sampler shuffles with ``seed + epoch``: without ``set_epoch``
    every epoch would repeat the first one's order.
    """

    def __init__(self, loader: DataLoader, *, epoch: int = 1) -> None:
        self.loader, self.epoch = loader, epoch

    @property
    def sampler(self) -> Any:
        return self.loader.sampler

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        self.loader.sampler.set_epoch(self.epoch)
        self.epoch += 1
        return iter(self.loader)


def _loader(
    dataset: Dataset, sampler: Sampler, batch_size: int, workers: int, seed: int, device: torch.device
) -> DataLoader:
    """A DataLoader with a seeded generator (as ``data.make_loader``) and the given sampler."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=device.type == "cuda",
    )


def train_loader(
    dataset: Dataset, *, global_batch: int, ctx: Context, seed: int, workers: int = 0, epoch: int = 1
) -> EpochLoader:
    """This rank's share of each shuffled global batch of ``global_batch`` samples.

    One process uses the same sampler (``num_replicas=1``), so it visits the
    samples in the order that N processes visit them together: global batch k
    is the same set of samples at every world size.
    """
    sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed)
    loader = _loader(dataset, sampler, global_batch // ctx.world_size, workers, seed, ctx.device)
    return EpochLoader(loader, epoch=epoch)


def eval_loader(dataset: Dataset, *, batch_size: int, ctx: Context, workers: int = 0) -> DataLoader:
    """This rank's unpadded shard of ``dataset`` in batches of ``batch_size`` (in order)."""
    sampler = ShardSampler(len(dataset), rank=ctx.rank, world_size=ctx.world_size)
    return _loader(dataset, sampler, batch_size, workers, 0, ctx.device)


def padded_size(dataset_size: int, world_size: int) -> int:
    """How many samples ``DistributedSampler`` hands out in all (padded to a multiple of the world)."""
    return math.ceil(dataset_size / world_size) * world_size


def share_checkpoint(path: Path, scratch: Path, ctx: Context) -> Path:
    """The checkpoint file this rank resumes from and saves to.

    Rank 0 uses ``path``. The others get a copy of rank 0's file, sent over the
    process group (other machines need not see rank 0's disk), in ``scratch``,
    where their own saves also go, since ``engine.fit`` saves wherever it resumes
    from. Only rank 0's file is the run's checkpoint.
    """
    if not ctx.distributed:
        return path
    payload = [path.read_bytes() if ctx.is_main and path.is_file() else None]
    dist.broadcast_object_list(payload, src=0)
    if ctx.is_main:
        return path
    own = scratch / path.name
    own.unlink(missing_ok=True)
    if payload[0] is not None:
        scratch.mkdir(parents=True, exist_ok=True)
        own.write_bytes(payload[0])
    return own


def torchrun_command(
    script_args: list[str],
    *,
    nproc: int,
    nnodes: int = 1,
    node_rank: int = 0,
    endpoint: str | None = None,
    max_restarts: int = 0,
    log_dir: str | os.PathLike | None = None,
) -> list[str]:
    """The ``torchrun ... -m course_utils.train ARGS`` command as a list for ``subprocess``.

    One machine (``endpoint=None``): ``--standalone``, on the loopback address. Several
    (``nnodes > 1``): a c10d rendezvous at ``endpoint`` ("host:port"), which the launch
    with ``node_rank=0`` hosts. ``python -m torch.distributed.run`` is what ``torchrun`` runs.
    """
    import sys

    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        f"--max-restarts={max_restarts}",
        "--local-addr=127.0.0.1",
    ]
    if endpoint is None:
        cmd.append("--standalone")
    else:
        cmd += [
            f"--nnodes={nnodes}",
            f"--node-rank={node_rank}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={endpoint}",
            "--rdzv-id=course_utils",
            f"--rdzv-conf=is_host={str(node_rank == 0).lower()}",
        ]
    if log_dir is not None:
        cmd += [f"--log-dir={os.fspath(log_dir)}", "--tee=3"]
    return [*cmd, "-m", "course_utils.train", *script_args]
