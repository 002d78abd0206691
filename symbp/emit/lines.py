"""A tiny builder for indented source lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Lines:
    """Accumulates source lines with an indentation level."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._depth = 0

    def __call__(self, *texts: str) -> None:
        """Append each text as a line at the current indentation (empty -> blank line)."""
        for text in texts:
            self._lines.append(("    " * self._depth + text) if text else "")

    def blank(self, count: int = 1) -> None:
        """Append ``count`` blank lines."""
        self._lines.extend([""] * count)

    @contextmanager
    def indent(self) -> Iterator[None]:
        """Indent the lines appended inside the ``with`` block."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def text(self) -> str:
        """The lines joined with LF, with one trailing newline."""
        return "\n".join(self._lines).rstrip("\n") + "\n"
