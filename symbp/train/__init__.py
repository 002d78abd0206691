"""Train: the Python face of a compiled module (:class:`~symbp.train.trainer.Trainer`),
its results (:class:`~symbp.train.fit.Fit`), SciPy's optimizers, chunked fits, the compile cache."""
