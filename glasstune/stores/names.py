"""Every name glasstune writes into Optuna's storage and MLflow's store, defined once.

Study attributes and MLflow tags carry the ``glasstune.`` prefix (they sit beside Optuna's and
MLflow's own); a trial's user attributes do not (they are what ``glasstune trials`` shows). A name
changed here changes what new studies record: older studies keep the old name, so renaming one is
a migration, not an edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class StudyAttr:
    """Optuna study user attributes: what a study is, recorded when it is created."""

    SEED = "glasstune.seed"
    DATA = "glasstune.data"
    PROVENANCE = "glasstune.provenance"
    OBJECTIVE = "glasstune.objective"
    METRIC = "glasstune.metric"
    SUMMARY_COLUMNS = "glasstune.summary_columns"
    OBJECTIVE_SETTINGS = "glasstune.objective_settings"
    DATA_FINGERPRINT = "glasstune.data_fingerprint"
    BASELINE = "glasstune.baseline"
    WARM_STARTED = "glasstune.warm_started"
    STUDY_FILE = "glasstune.study_file"
    PARENT_RUN = "glasstune.mlflow_parent_run_id"
    EXPERIMENT = "glasstune.mlflow_experiment_id"


class TrialAttr:
    """Optuna trial user attributes set by the runner (objectives add their summary values)."""

    SEED = "seed"
    WORKER = "worker"
    GPU = "gpu"
    RUN_ID = "mlflow_run_id"
    RUN_ERROR = "mlflow_error"
    ERROR = "error"
    PRUNE_REASON = "prune_reason"
    INTERRUPTED = "interrupted"
    OWNER = "owner"
    WARM_START = "warm_start"
    TRIALS_TOGETHER = "trials_together"
    """How many trials trained in one batch with this one (set only when more than one)."""
    STEP_UNIT = "step_unit"
    """What a step of the trial's intermediate values counts (epoch, iteration, fold), set by its objective."""
    DATA = "data"
    """The data set the trial ran on, in words ('... [SYNTHETIC]' for synthetic data)."""


class Tag:
    """MLflow run tags."""

    PARENT = "mlflow.parentRunId"
    ROLE = "glasstune.role"
    STUDY = "glasstune.study"
    TRIAL_NUMBER = "glasstune.trial_number"
    STATE = "glasstune.state"
    ERROR = "glasstune.error"
    PRUNE_REASON = "glasstune.prune_reason"
    INTERRUPTED = "glasstune.interrupted"
    ORPHAN = "glasstune.orphan"
    DOCTOR = "glasstune.doctor"
    SEED = "glasstune.seed"
    DATA = "glasstune.data"
    SYNTHETIC = "glasstune.synthetic"
    DATA_GENERATOR = "glasstune.data_generator"
    LABEL_RULE = "glasstune.label_rule"
    EQUILIBRATED = "glasstune.equilibrated"
    DEVICE = "glasstune.device"
    WORKER = "glasstune.worker"
    GPU = "glasstune.gpu"
    OPTUNA_STORAGE = "glasstune.optuna_storage"
    OBJECTIVE = "glasstune.objective"
    MLP_BACKEND = "glasstune.mlp_backend"
    REPLICATES = "glasstune.replicates"
    PRECISION = "glasstune.precision"
    NETWORK = "glasstune.network"
    COLLAPSED = "glasstune.collapsed"
    COLLAPSE_REASON = "glasstune.collapse_reason"
    RESUMED_FROM = "glasstune.resumed_from"
    PARTIAL_ARTIFACTS_ERROR = "glasstune.partial_artifacts_error"
    RECORDS_LOST = "glasstune.records_lost"
    CONTINUED_FROM = "glasstune.continued_from_run"
    EXTRA_ITERATIONS = "glasstune.extra_iterations"
    CHECKPOINT_DIR = "glasstune.checkpoint_dir"
    STUDIES = "glasstune.studies"
    WARM_START = "glasstune.warm_start"


class Role:
    """Values of ``Tag.ROLE``: what a run stands for."""

    STUDY = "study"
    TRIAL = "trial"
    CONTINUATION = "continuation"
    TRANSFER = "transfer"


def data_tags(provenance: Mapping[str, Any]) -> dict[str, str]:
    """The tags that say which data a run used, and loudly whether it was synthetic, how its labels
    were drawn and whether its simulation was equilibrated (where the data say)."""
    tags = {
        Tag.DATA: str(provenance.get("name", "")),
        Tag.SYNTHETIC: str(bool(provenance.get("synthetic", False))).lower(),
        Tag.DATA_GENERATOR: str(provenance.get("generator", provenance.get("engine", ""))),
    }
    if provenance.get("label_rule"):
        tags[Tag.LABEL_RULE] = str(provenance.get("label_rule_text") or provenance["label_rule"])
    if provenance.get("equilibrated") is not None:
        tags[Tag.EQUILIBRATED] = str(bool(provenance["equilibrated"])).lower()
    return tags


def replicate_tag(tag: str, prefix: str) -> str:
    """A tag of one replicate of a trial (``prefix`` ``"rep1/"``): ``glasstune.rep1.resumed_from``."""
    return tag.replace("glasstune.", "glasstune." + prefix.replace("/", "."), 1) if prefix else tag
