"""Customer analytics kernels: pure functions and estimators over frames and arrays.

Nothing here touches storage (an import-linter contract keeps it so): the scoring run reads
orders into Polars and hands them over, so every kernel is testable on published data and
reproducible for any as-of date.
"""
