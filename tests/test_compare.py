"""`training.compare`: out-of-domain records side by side, and the protocol's checks."""

import json

import pytest

from keras_cpc.floor import FLOOR
from training import compare


def record(clean: float, shift: float, floor: float) -> dict:
    """A record of one model whose CCC is `clean` on clean audio and `clean - shift` under the other conditions."""
    def row(value):
        return {"activation": value, "valence": value / 2, "dominance": value / 4}

    return {"conditions": {c: {"model": row(clean if c == "clean" else clean - shift), FLOOR: row(floor)}
                           for c in ("clean", "level-20", "white-10db", "rt60-0.8")},
            "read_speech": {"model": {"hops_inside": 1.0, "files_inside": 1.0,
                                      "mean": {"activation": 0.1, "valence": -0.2, "dominance": 0.0},
                                      "std": {"activation": 0.3, "valence": 0.2, "dominance": 0.1}}}}


def test_records_side_by_side_with_their_checks(tmp_path):
    for name, shift in (("a", 0.1), ("b", 0.5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(record(0.6, shift, 0.3)))
    text = compare.compare(compare.build_parser().parse_args(
        [f"before={tmp_path / 'a'}", f"after={tmp_path / 'b'}", "--out", str(tmp_path / "table.md")]))
    assert (tmp_path / "table.md").read_text() == text
    lines = text.splitlines()
    assert lines[0] == f"| condition | before: model | after: model | {FLOOR} |"
    assert "| level-20 | 0.500 / 0.250 / 0.125 | 0.100 / 0.050 / 0.025 | 0.300 / 0.150 / 0.075 |" in lines
    assert "| before: model | 0.100 | nan | white-10db +0.100, rt60-0.8 +0.100 | none |" in lines
    assert "| after: model | 0.500 | nan | white-10db +0.500, rt60-0.8 +0.500 | level-20, white-10db, rt60-0.8 |" \
        in lines
    assert "| before: model | 1.000 | 1.000 | +0.10 ± 0.30 | -0.20 ± 0.20 | +0.00 ± 0.10 |" in lines


def test_an_unreadable_record_is_an_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="results.json: not a readable training.robustness record"):
        compare.compare(compare.build_parser().parse_args([f"x={tmp_path}", "--out", str(tmp_path / "t.md")]))
