"""Studies over many training runs, clients of ``softfer.engine.train.fit``: cross-validation (``cv``),
comparisons with paired statistics (``compare``) and the papers' tables (``reproduce``)."""
