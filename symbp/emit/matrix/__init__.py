"""Matrix-level emission: batched lowering (loop nests, ``np.dot``, fusion), kernel and predict."""
