"""Where a study's records live: Optuna's storage and MLflow's store, and their agreement.

``optuna_storage`` opens storages from URLs; ``tracking`` is the only module that talks to MLflow
(with ``writer``, the child process that writes trial runs); ``start_gate`` lets one trial start at
a time per study; ``doctor`` checks that both stores tell the same story; ``names`` holds every
attribute and tag name glasstune writes. Nothing here knows of models or data.
"""
