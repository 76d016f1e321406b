"""Load a study file (plain Python defining ``STUDY = Study(...)``) into a ``Study``.

The study file's folder is importable while it loads, so studies can share settings in a helper
module beside them (``studies/_mlp.py``) instead of copying them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path

from glasstune.errors import StudyFileError
from glasstune.study.spec import STUDY_MODULE_PREFIX, Study

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def load_study_file(path: str | Path) -> Study:
    path = Path(path)
    if not path.exists():
        raise StudyFileError(f"{path}: no such study file; give the path to a .py file such as studies/mlp_045.py")
    if path.suffix != ".py":
        raise StudyFileError(f"{path}: a study file is a Python file ending in .py")
    folder = str(path.parent.resolve())
    # a name that is the same in every process: classes defined in a study file are recorded by it
    module_name = STUDY_MODULE_PREFIX + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StudyFileError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise StudyFileError(f"{path}:{error.lineno}: syntax error: {error.msg}") from error
    except SystemExit as error:
        raise StudyFileError(f"{path}: calls sys.exit({error.code!r}) while loading; a study file only "
                             f"defines STUDY (put scripts behind if __name__ == '__main__':)") from error
    except Exception as error:
        raise StudyFileError(f"{path}: fails while loading: {type(error).__name__}: {error}") from error
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    study = getattr(module, "STUDY", None)
    if not isinstance(study, Study):
        raise StudyFileError(
            f"{path}: defines no study; add STUDY = Study(name=..., data=..., objective=...)"
        )
    check_study(study, path)
    study.source_file = path
    return study


def check_study(study: Study, path: Path | str) -> None:
    """Catch a broken study before anything is created in a store."""
    if not NAME_PATTERN.match(study.name):
        raise StudyFileError(
            f"{path}: study name {study.name!r} must be 1-100 letters, digits, '_', '-' or '.'"
        )
    if not isinstance(study.n_trials, int) or study.n_trials < 1:
        raise StudyFileError(f"{path}: n_trials must be a positive whole number, got {study.n_trials!r}")
    if not callable(study.objective):
        raise StudyFileError(f"{path}: objective must be callable (objective(ctx) -> float)")
    if not callable(getattr(study.data, "load", None)):
        raise StudyFileError(
            f"{path}: data must be a data source with load(), e.g. glasstune.data.softness(0.45) "
            f"or glasstune.data.table_file('my_table.parquet')"
        )
    if study.direction not in ("maximize", "minimize"):
        raise StudyFileError(f"{path}: direction must be 'maximize' or 'minimize'")
    for name in ("trials_per_batch", "warm_start_top"):
        value = getattr(study, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise StudyFileError(f"{path}: {name} must be a whole number, 1 or more, got {value!r}")
    if not isinstance(study.warm_start, (list, tuple)) or not all(isinstance(n, str) for n in study.warm_start):
        raise StudyFileError(f"{path}: warm_start must be a list of study names, got {study.warm_start!r}")
    timeout = study.timeout
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0 or timeout == float("inf")):
        raise StudyFileError(f"{path}: timeout must be a number of seconds above 0 (or None for no limit), "
                             f"got {timeout!r}")
