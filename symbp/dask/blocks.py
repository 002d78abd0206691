"""Dask-array data checked against a model and split into its blocks of samples.

symbp.dask distributes samples: every array is chunked along its first axis only, all
alike; each non-empty block becomes one task's data. The global sample order of a fit
maps onto the blocks with :func:`batch_rows`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from ..errors import DataError
from ..train.trainer import Trainer


@dataclass(frozen=True)
class Blocks:
    """Dask arrays split into their blocks of samples (the empty blocks left out)."""

    names: tuple[str, ...]
    blocks: tuple[tuple[Any, ...], ...]  # per non-empty block: one Delayed per array
    sizes: tuple[int, ...]  # samples of each non-empty block
    offsets: tuple[int, ...]  # index of each non-empty block's first sample
    chunks: tuple[int, ...]  # every block's samples, the empty ones too
    n: int


def check_array(trainer: Trainer, name: str, value: Any, shape: tuple[int, ...]) -> da.Array:
    """``value``, a dask array for the data array ``name`` of declared ``shape``: real
    numbers, samples first, known chunk sizes, chunked along the samples only."""
    if not isinstance(value, da.Array):
        raise DataError(
            f"data {name!r} is a {type(value).__name__}; symbp.dask takes dask arrays chunked "
            f"along the samples, e.g. dask.array.from_array({name}, chunks=(10_000, -1))"
        )
    if value.dtype.kind not in "biuf":
        raise DataError(f"data {name!r} has dtype {value.dtype}; expected real numbers")
    if value.ndim == 0:
        raise DataError(f"data {name!r} is a scalar; expected a first axis of samples")
    if any(isinstance(c, float) and math.isnan(c) for axis in value.chunks for c in axis):
        raise DataError(
            f"data {name!r} has unknown chunk sizes; call {name}.compute_chunk_sizes() first"
        )
    accepted = trainer.runtime.accepted_shapes(shape)
    if value.shape[1:] not in accepted:
        expected = " or ".join(str(("n", *s)) for s in accepted)
        raise DataError(f"data {name!r} has shape {value.shape}; expected {expected}")
    for axis in range(1, value.ndim):
        if len(value.chunks[axis]) > 1:
            raise DataError(
                f"data {name!r} is chunked along axis {axis} too (chunks {value.chunks}); "
                f"symbp.dask splits the samples (axis 0) only: use {name}.rechunk({{{axis}: -1}})"
            )
    return value


def split(trainer: Trainer, data: Any, inputs_only: bool = False) -> Blocks:
    """Validate dask-array data against the model and split it into blocks."""
    spec = trainer.spec
    declared = spec.data[: spec.n_inputs] if inputs_only else spec.data
    what = "inputs" if inputs_only else "data"
    if not declared:
        raise DataError(
            f"model {spec.model!r} has no {'inputs' if inputs_only else 'inputs or targets'}: "
            "symbp.dask distributes samples; use the Trainer in memory"
        )
    if not isinstance(data, Mapping):
        raise DataError(
            f"{what} must be a dict mapping names to dask arrays, got {type(data).__name__}"
        )
    if inputs_only:
        targets = {name for name, _ in spec.data[spec.n_inputs :]}
        data = {k: v for k, v in data.items() if k not in targets}
    names = tuple(name for name, _ in declared)
    trainer.call(trainer.runtime.check_keys, dict(data), names, what)
    arrays = [check_array(trainer, name, data[name], shape) for name, shape in declared]
    first, reference = names[0], arrays[0]
    for name, array in zip(names[1:], arrays[1:], strict=True):
        if array.shape[0] != reference.shape[0]:
            raise DataError(
                f"data {name!r} has {array.shape[0]} samples, but {first!r} has "
                f"{reference.shape[0]}"
            )
        if array.chunks[0] != reference.chunks[0]:
            raise DataError(
                f"data {name!r} has sample chunks {array.chunks[0]}, but {first!r} has "
                f"{reference.chunks[0]}: chunk every array alike along the samples, e.g. "
                f"{name}.rechunk({{0: {first}.chunks[0]}})"
            )
    chunks = tuple(int(c) for c in reference.chunks[0])
    n = sum(chunks)
    if n == 0:
        raise DataError("data has no samples (first axis of length 0)")
    delayed = [array.to_delayed().reshape(-1) for array in arrays]
    blocks, sizes, offsets = [], [], []
    start = 0
    for k, size in enumerate(chunks):
        if size:
            blocks.append(tuple(column[k] for column in delayed))
            sizes.append(size)
            offsets.append(start)
        start += size
    return Blocks(names, tuple(blocks), tuple(sizes), tuple(offsets), chunks, n)


def batch_rows(blocks: Blocks, lo: int, hi: int, order: np.ndarray | None) -> list[tuple[int, Any]]:
    """The rows ``lo:hi`` of the global order, split by block: ``[(block, rows), ...]``.

    Without shuffling the rows are a range (sent as ``(first, stop)``, or None for a
    whole block); with it, each block gets its rows' local indices in batch order.
    """
    ends = np.cumsum(blocks.sizes)
    out: list[tuple[int, Any]] = []
    if order is None:
        first = int(np.searchsorted(ends, lo, side="right"))
        last = int(np.searchsorted(ends, hi - 1, side="right"))
        for k in range(first, last + 1):
            start = max(lo, blocks.offsets[k]) - blocks.offsets[k]
            stop = min(hi, blocks.offsets[k] + blocks.sizes[k]) - blocks.offsets[k]
            out.append((k, None if (start, stop) == (0, blocks.sizes[k]) else (start, stop)))
        return out
    rows = order[lo:hi]
    owner = np.searchsorted(ends, rows, side="right")
    for k in np.unique(owner):
        local = rows[owner == k] - blocks.offsets[k]
        out.append((int(k), np.ascontiguousarray(local, dtype=np.int64)))
    return out
