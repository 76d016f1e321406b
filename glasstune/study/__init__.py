"""A study: the ``Study`` a study file defines, loading that file, and running its trials.

``spec`` (what a study is), ``loader`` (a study file into a ``Study``), ``runner`` (the run loop),
``trial`` (one trial's life), ``seeds``, ``workers`` (several processes on one study) and
``progress`` (the live display). Only ``Study`` is re-exported: the rest loads when used.
"""

from glasstune.study.spec import Study

__all__ = ["Study"]
