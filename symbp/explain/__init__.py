"""Explain: the derivation as LaTeX, at both levels, printed from the sweep the kernels
come from: names (:mod:`~symbp.explain.names`), the element-level contraction
(:mod:`~symbp.explain.scalar`), the matrix-level page (:mod:`~symbp.explain.matrix`),
the renderer (:mod:`~symbp.explain.latex`) and numeric walk-throughs.
"""
