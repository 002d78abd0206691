"""Declare: what a user passes to :class:`symbp.Model`, validated into a
:class:`~symbp.declare.declaration.Declaration` (variables, loss, level, outputs)."""
