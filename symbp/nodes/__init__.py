"""The expression vocabulary every stage shares.

Node types beyond SymPy's own (the stable scalar primitives, the matrix-level row
log-sum-exp and unit matrices, lazy element reads), the canonical elementwise
function, and DAG-aware traversal. Nothing here knows about a pipeline stage.
"""
