"""What a finished study gives: its trials table, exports, retrained and continued models, the
study report, the temperature-transfer matrix, and the MLflow and Optuna UIs over its stores."""
