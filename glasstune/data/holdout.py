"""Frames a study never sees: the last part of each temperature's trajectory, held out for transfer.

A study tuned with cross-validation on every frame has chosen its configuration on the frames a
transfer matrix later scores it on, so the matrix's diagonal is optimistic. A softness source with a
``heldout`` fraction (``HoldsOutFrames``: the simulated sets, and the synthetic stand-in of
``softness(T, source="synthetic")``) gives the frames a study may tune on from ``load()`` and the
others from ``held_out()``; the provenance of both names the frames on each side, so the study
records what it saw (its data provenance) and ``glasstune transfer`` evaluates on what it did not.
The fraction is an ordinary field: the source is described and made again with it.

The held-out part is the last ``heldout`` of the frames in time, per temperature, not a random
pick: analysis frames of one run are a few tau apart and share rearrangements (a hop stays visible
in Phop for the whole window). Frames closer than the Phop window plus the quiet interval to the
held-out block are dropped from the tuning part, so no row on one side shares a trajectory segment
with a row on the other. (At low T the structure itself stays correlated for tau_alpha, longer
than any gap this allows; an independent run would remove that too.) Tables without a frame time
(synthetic, or a user's) are split without a gap, and their provenance says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glasstune.errors import DataError

HELDOUT_FRACTION = 0.25
HELDOUT_KEY = "heldout"
"""Provenance key of the split: fraction, gap, and the frames on each side, per temperature."""


def split_frames(frames: np.ndarray, fraction: float, gap: float) -> tuple[np.ndarray, np.ndarray]:
    """(tuning, held-out) frame ids: the last ``fraction`` of the sorted ids held out, ids within
    ``gap`` (in frame-id units) before the first held-out one dropped."""
    frames = np.unique(np.asarray(frames))
    n_heldout = max(1, int(round(fraction * len(frames))))
    heldout = frames[-n_heldout:]
    tuning = frames[:-n_heldout]
    tuning = tuning[tuning <= heldout[0] - gap] if gap > 0 else tuning
    return tuning, heldout


def gap_in_frame_ids(provenance: dict[str, Any]) -> float:
    """Phop window plus quiet interval, in frame-id units (0 when the table does not say its times)."""
    frame_time = provenance.get("frame_time")
    window, interval = provenance.get("phop_window"), provenance.get("quiet_interval")
    if not frame_time or window is None or interval is None:
        return 0.0
    return (float(window) + float(interval)) / float(frame_time)


def heldout_record(frame: Any, provenance: dict[str, Any], fraction: float) -> dict[str, Any]:
    """The split of a table's frames, per temperature, as recorded in its provenance."""
    if "frame" not in frame:
        raise DataError(f"{provenance.get('name', 'data')}: no 'frame' column; frames cannot be held out "
                        f"(use heldout=0)")
    gap = gap_in_frame_ids(provenance)
    per_temperature = {}
    for temperature, rows in frame.groupby("temperature"):
        ids = rows["frame"].to_numpy()
        tuning, heldout = split_frames(ids, fraction, gap)
        if len(tuning) < 2:
            raise DataError(f"{provenance.get('name', 'data')}: at T = {temperature:g}, {len(np.unique(ids))} "
                            f"frames leave {len(tuning)} to tune on after holding out {len(heldout)}; "
                            f"use more frames or heldout=0")
        per_temperature[f"{float(temperature):g}"] = {"tuning_frames": tuning.tolist(),
                                                      "heldout_frames": heldout.tolist()}
    return {"fraction": fraction, "gap_frame_ids": gap,
            "rule": "last fraction of the frames in time, per temperature; a gap of Phop window + quiet "
                    "interval before it" if gap else "last fraction of the frames (no frame time: no gap)",
            "temperatures": per_temperature}


def rows_in(frame: Any, record: dict[str, Any], side: str) -> np.ndarray:
    """Boolean mask of the rows on one side (``tuning_frames`` or ``heldout_frames``) of a record."""
    keep = np.zeros(len(frame), dtype=bool)
    temperatures = frame["temperature"].to_numpy(dtype=float)
    frames = frame["frame"].to_numpy()
    for temperature, sides in record["temperatures"].items():
        at = np.isclose(temperatures, float(temperature))
        keep |= at & np.isin(frames, sides[side])
    return keep


def check_fraction(fraction: float) -> None:
    if not 0 <= fraction < 1:
        raise DataError(f"heldout={fraction}: give the held-out fraction of frames in [0, 1) (0: none)")


class HoldsOutFrames:
    """A softness source whose last ``heldout`` frames are held out of tuning (see the module
    docstring). A class mixes it in first, declares a ``heldout`` field and defines ``load_all()``."""

    heldout: float
    name: str

    def load_all(self) -> Any:
        """Every frame (the table as made)."""
        raise NotImplementedError

    def load(self) -> Any:
        """The frames a study may tune on (its provenance lists both sides); all of them when
        ``heldout`` is 0."""
        return self._part("tuning_frames") if self.heldout else self.load_all()

    def held_out(self) -> Any:
        """The frames no study on this source has tuned on."""
        if not self.heldout:
            raise DataError(f"{self.name}: heldout=0, no frames are held out")
        return self._part("heldout_frames")

    def _part(self, side: str) -> Any:
        from glasstune.data.table import FeatureTable

        table = self.load_all()
        record = heldout_record(table.frame, table.provenance, self.heldout)
        rows = rows_in(table.frame, record, side)
        provenance = {**table.provenance, HELDOUT_KEY: record, "frames_part": side.removesuffix("_frames")}
        return FeatureTable(table.frame.loc[rows].reset_index(drop=True), provenance)
