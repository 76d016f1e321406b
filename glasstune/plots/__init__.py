"""Matplotlib figures built from plain arrays; callers log them as artifacts."""
