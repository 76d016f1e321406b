"""The CNN study file through the real command line, on the smoke budget."""

from __future__ import annotations

from pathlib import Path

STUDY_FILE = Path(__file__).resolve().parents[3] / "studies" / "cnn_glass_liquid.py"


def test_study_file_reads_as_the_lab_protocol_on_a_small_budget():
    from glasstune.objectives.cnn import CNNObjective
    from glasstune.study.loader import load_study_file

    study = load_study_file(STUDY_FILE)
    assert study.name == "cnn_glass_liquid" and isinstance(study.objective, CNNObjective)
    assert study.objective.uses_device and study.objective.iterations <= 200  # a CPU budget
    assert type(study.data).__name__ == "SimulatedImages"  # made on first use; tests/data/test_builtin.py
    assert (study.data.runs, study.data.size) == (200, 48)  # 60 test images: intervals, not 1 % resolution
    assert study.smoke_variant().data.load().provenance["synthetic"] is True


def test_smoke_run_end_to_end(cli, tmp_path):
    result = cli("run", str(STUDY_FILE), "--smoke", "--no-progress", "--device", "cpu")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "3/3 finished" in result.stdout
    artifacts = {path.name for path in (tmp_path / "mlruns" / "artifacts").rglob("*") if path.is_file()}
    assert {"curves.png", "augmentation.png", "conv1_maps.png", "confusion_matrix.png", "model_best.pt"} <= artifacts
    assert list((tmp_path / "mlruns" / "checkpoints" / "cnn_glass_liquid-smoke").glob("trial-*/rep0/latest.pt"))
    table = cli("trials", "cnn_glass_liquid-smoke", "--format", "csv")
    header = table.stdout.splitlines()[0].split(",")
    assert {"val_accuracy", "test_accuracy", "final_val_accuracy", "collapsed"} <= set(header), header
    assert "cv_score" not in header
