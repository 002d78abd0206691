"""Simplify: named rewrite passes, before and after the sweep.

Before it, :mod:`~symbp.simplify.canonical` (matrix size rewrites) and
:mod:`~symbp.simplify.stability` (overflow-free forms, both levels); after it, the
program passes that turn a Derivation into a compact :class:`~symbp.simplify.program.Program`
(:mod:`~symbp.simplify.scalar` with deterministic CSE, :mod:`~symbp.simplify.matrix`)
and the closed forms people read.
"""
