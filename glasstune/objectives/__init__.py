"""Objectives, one module per model family. Import from the submodules; nothing heavy loads here."""
