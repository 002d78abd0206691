"""Derive: the reverse sweep over the shared expression graph, at both levels.

:mod:`~symbp.derive.sweep` is the one sweep; :mod:`~symbp.derive.scalar` and
:mod:`~symbp.derive.matrix` say what a node is at each level, with their rule
registries :mod:`~symbp.derive.scalar_rules` and :mod:`~symbp.derive.matrix_rules`;
:mod:`~symbp.derive.hessian` sweeps the gradient again (Hessian-vector products).
"""
