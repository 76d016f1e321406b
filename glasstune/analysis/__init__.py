"""Study-level results: the temperature-transfer matrix and the study report."""
