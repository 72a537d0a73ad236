"""Hostile input to the training CLIs that need no training: one line naming the problem, nothing written."""

import pytest

from training import export


def test_export_onto_an_existing_export_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "model.json").write_text("the earlier export")
    with pytest.raises(SystemExit, match=f"error: {out}: holds an export already .*--overwrite"):
        export.main(["--recognizer", str(tmp_path / "recognizer.keras"), "--out", str(out)])
    assert (out / "model.json").read_text() == "the earlier export"
    with pytest.raises(SystemExit, match=f"error: .*{tmp_path / 'recognizer.keras'}"):  # --overwrite goes on
        export.main(["--recognizer", str(tmp_path / "recognizer.keras"), "--out", str(out), "--overwrite"])
