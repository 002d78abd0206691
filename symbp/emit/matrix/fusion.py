"""Loop fusion for batched kernels: consecutive per-sample loops share one ``_b`` loop.

The lowering emits each statement as a loop nest over the batch (``for _b in
range(_nb): ...``) or as plain code (``np.dot`` on the whole batch, loops over shared
values). :class:`Segments` collects them in order and writes consecutive per-sample
segments inside *one* ``for _b`` loop: every per-sample statement reads only this
sample's values (and shared ones), so running statement ``k + 1`` right after
statement ``k`` for the same sample is the same computation, with a fraction of the
loops for Numba to compile (20-25% of a digits kernel's compile time) and each
sample's values still in cache. A per-sample segment that reads a value summed over the
batch by an earlier segment of the group starts a new loop; plain code always does.
Lines that must run before a segment's loop (zeroing an accumulator) are hoisted to
before the group's loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..lines import Lines

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^=]*\])?\s*[-+*/]?=(?!=)")
_DOT_OUT = re.compile(r"np\.dot\(.*,\s*([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\)\s*$")


@dataclass
class Segment:
    """Lines of one statement: plain, or per-sample (the body of a ``for _b`` loop)."""

    batched: bool
    lines: Lines = field(default_factory=Lines)
    prelude: list[str] = field(default_factory=list)
    #: names of values this segment sums over the batch (complete only after the loop)
    reduces: set[str] = field(default_factory=set)
    #: values the segment writes through another name (a view: a scan's last state)
    aliased: set[str] = field(default_factory=set)

    def names(self) -> set[str]:
        """Every identifier the segment (and its prelude) mentions."""
        return set(_NAME.findall(self.lines.text() + "\n".join(self.prelude))) | self.aliased

    def writes(self) -> set[str]:
        """The arrays and locals the segment assigns (``x[...] = ``, ``np.dot(.., out)``)."""
        found = set(self.aliased)
        for line in [*self.prelude, *self.lines.text().splitlines()]:
            match = _ASSIGN.match(line) or _DOT_OUT.search(line)
            if match:
                found.add(match.group(1))
        return found


class Segments:
    """The code of one block (forward or backward) of a batch, in statement order."""

    def __init__(self) -> None:
        self.items: list[Segment] = []
        self._prelude: list[str] = []
        self._head: list[str] = []

    def head(self, line: str) -> None:
        """A line to run first in the next per-sample segment (for each sample)."""
        self._head.append(line)

    def prelude(self, line: str) -> None:
        """A line to run before the next per-sample segment's loop (or plain code)."""
        self._prelude.append(line)

    @contextmanager
    def plain(self) -> Iterator[Lines]:
        """Lines of plain code (outside any batch loop)."""
        assert not self._head, "per-sample lines before plain code"
        segment = Segment(False)
        segment.lines(*self._prelude)
        self._prelude = []
        self.items.append(segment)
        yield segment.lines

    def writes_through(self, names: set[str]) -> None:
        """The last segment also writes ``names`` (views of what it writes)."""
        self.items[-1].aliased |= names

    @contextmanager
    def per_sample(self, reduces: str | None = None) -> Iterator[Lines]:
        """Lines that run for every sample ``_b`` (``reduces``: a value summed over ``_b``)."""
        segment = Segment(True, prelude=self._prelude)
        segment.lines(*self._head)
        self._prelude, self._head = [], []
        if reduces is not None:
            segment.reduces.add(reduces)
        self.items.append(segment)
        yield segment.lines

    def write(self, out: Lines) -> None:
        """Append the code, fusing per-sample segments into as few ``_b`` loops as possible.

        A per-sample segment joins the last per-sample group when it reads no value that
        group sums over the batch, and may move before the plain code written since that
        group (an ``np.dot``, say) when neither reads or writes what the other writes.
        """
        if self._prelude:
            out(*self._prelude)
            self._prelude = []
        groups: list[list[Segment]] = []
        for segment in self.items:
            home = self._home(groups, segment) if segment.batched else None
            if home is None:
                groups.append([segment])
            else:
                groups[home].append(segment)
        for group in groups:
            if not group[0].batched:
                out(*(line for line in group[0].lines.text().splitlines() if line))
                continue
            for segment in group:
                out(*segment.prelude)
            out("for _b in range(_nb):")
            with out.indent():
                for segment in group:
                    out(*(line for line in segment.lines.text().splitlines() if line))

    @staticmethod
    def _home(groups: list[list[Segment]], segment: Segment) -> int | None:
        """The per-sample group ``segment`` can join, if any."""
        names, writes = segment.names(), segment.writes()
        for index in range(len(groups) - 1, -1, -1):
            group = groups[index]
            if group[0].batched:
                summed = set().union(*(s.reduces for s in group))
                return None if (names - segment.reduces) & summed else index
            plain = group[0]
            if names & plain.writes() or plain.names() & writes:
                return None
        return None
