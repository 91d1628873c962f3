"""course_utils.tables: rows in, one Markdown table out."""
from __future__ import annotations

import pytest

from course_utils import tables


def test_markdown_aligns_numbers_right_and_formats_columns() -> None:
    text = tables.markdown([("cat", 0.5, 1200), ("dog", None, 3)], ["class", "acc", "images"],
                           formats=[None, ".1%", None])
    assert text.splitlines() == ["| class | acc | images |", "| --- | ---: | ---: |",
                                 "| cat | 50.0% | 1,200 |", "| dog | – | 3 |"]


def test_markdown_refuses_ragged_rows() -> None:
    with pytest.raises(ValueError, match="need 2 entries"):
        tables.markdown([(1, 2, 3)], ["a", "b"])


def test_show_prints_outside_a_notebook(capsys: pytest.CaptureFixture[str]) -> None:
    text = tables.show([(1,)], ["n"])
    assert capsys.readouterr().out.strip() == text


# ---- lesson 03 ------------------------------------------------------------

def test_per_class_rows_and_confused_pairs_read_the_matrix() -> None:
    import torch

    cm = torch.tensor([[5, 3, 2], [0, 4, 0], [1, 1, 0]])  # rows: true class; columns: predicted
    assert tables.per_class_rows(cm, ["cat", "dog", "eel"]) == [
        ["cat", 10, 5, 0.5], ["dog", 4, 4, 1.0], ["eel", 2, 0, 0.0]]
    assert tables.confused_pairs(cm, ["cat", "dog", "eel"], top=3) == [
        ["cat", "dog", 3, 0.3], ["cat", "eel", 2, 0.2], ["eel", "cat", 1, 0.5]]
    assert tables.per_class_rows([[0, 0], [0, 1]], ["a", "b"])[0] == ["a", 0, 0, None]  # no samples
    with pytest.raises(ValueError, match="2 x 2"):
        tables.per_class_rows([[1, 2, 3]], ["a", "b"])

# (end of lesson 03)


# ---- lesson 04 ------------------------------------------------------------

# (end of lesson 04)


# ---- lesson 05 ------------------------------------------------------------

# (end of lesson 05)


# ---- lesson 06 ------------------------------------------------------------

# (end of lesson 06)


# ---- lesson 07 ------------------------------------------------------------

# (end of lesson 07)


# ---- lesson 08 ------------------------------------------------------------

# (end of lesson 08)
