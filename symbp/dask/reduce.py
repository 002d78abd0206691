"""Partial sums added in a fixed tree, and data kept on the workers for many reductions.

Every reduction adds the blocks' partial sums (:data:`symbp.dask.worker.Partial`) in
groups of :data:`FAN_IN` consecutive blocks, level by level. The grouping depends only
on the number of blocks, so results do not depend on scheduling. :class:`Prepared` is
the data of ``minimize`` and ``fit``: validated once and kept on the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dask
import distributed
import numpy as np

from ..train.trainer import Trainer
from .blocks import Blocks
from .cluster import Later, gather, wait
from .ship import COMBINE, PREPARE, PREPARED_SUMS, held_ship
from .worker import Partial, combine

#: Partial sums are added in groups of this many consecutive blocks, level by level.
FAN_IN = 8


def tree(items: Sequence[Any], join: Callable[[list[Any]], Any]) -> Any:
    """Reduce ``items`` in groups of FAN_IN consecutive items, level by level.

    The grouping depends only on the number of items, so the additions happen in the
    same order whichever worker computes them, and whenever.
    """
    top = tree_until(items, join)
    return join(top) if len(top) > 1 else top[0]


def tree_until(items: Sequence[Any], join: Callable[[list[Any]], Any]) -> list[Any]:
    """The levels of :func:`tree` until at most FAN_IN items are left (the workers do
    these; the client adds the last group: the same additions as the whole tree)."""
    level = list(items)
    while len(level) > FAN_IN:
        level = [
            join(level[i : i + FAN_IN]) if len(level[i : i + FAN_IN]) > 1 else level[i]
            for i in range(0, len(level), FAN_IN)
        ]
    return level


def combine_here(partials: Sequence[Partial]) -> Partial:
    """The tree of :func:`tree` evaluated on the client (the workers' combine)."""
    return tree(partials, lambda group: combine(*group))  # type: ignore[no-any-return]


def sums(
    client: distributed.Client,
    partials: Sequence[Any],
    what: str,
    timeout: float | None,
    fit: Later = None,
) -> Partial:
    """Add delayed partial sums in the fixed tree: the lower levels on the workers, the
    last group of at most FAN_IN on the client (one round trip for up to FAN_IN blocks)."""
    top = tree_until(partials, lambda group: dask.delayed(COMBINE, pure=False)(*group))
    return combine_here(gather(client, client.compute(top), what, timeout, fit))


class Prepared:
    """The data validated once on the workers and kept there for many evaluations.

    Each block becomes a future holding its arrays in the kernel's layout; if its
    worker is lost, Dask recomputes it from the original graph.
    """

    def __init__(
        self,
        client: distributed.Client,
        trainer: Trainer,
        blocks: Blocks,
        timeout: float | None,
        fit: Later = None,
    ):
        self.client = client
        self.blocks = blocks
        self.timeout = timeout
        self.ship = held_ship(client, trainer)
        tasks = [
            dask.delayed(PREPARE, pure=False)(self.ship, blocks.names, offset, *block)
            for block, offset in zip(blocks.blocks, blocks.offsets, strict=True)
        ]
        self.arrays = client.compute(tasks)
        try:
            wait(client, [self.ship, *self.arrays], "preparing the data", timeout, fit)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Let the cluster forget the prepared blocks."""
        for future in self.arrays:
            future.release()

    def __enter__(self) -> Prepared:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sums(self, theta: np.ndarray, what: str, fit: Later = None) -> Partial:
        """Loss and gradient sums over every sample at ``theta``."""
        partials = [
            dask.delayed(PREPARED_SUMS, pure=False)(self.ship, theta, None, arrays)
            for arrays in self.arrays
        ]
        return sums(self.client, partials, what, self.timeout, fit)

    def rows_sums(
        self, theta: np.ndarray, rows: Sequence[tuple[int, Any]], what: str, fit: Later
    ) -> Partial:
        """Loss and gradient sums over the given rows of the given blocks (in block
        order: ``[(block, rows within it), ...]``), added in the fixed tree order."""
        futures = [
            self.client.submit(PREPARED_SUMS, self.ship, theta, local, self.arrays[k], pure=False)
            for k, local in rows
        ]
        partials = gather(self.client, futures, what, self.timeout, fit)
        return combine_here(partials)
