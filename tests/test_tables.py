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
def test_08_time_split_rows_are_seconds_and_rates() -> None:
    rows = tables.time_split_rows(1000, data_s=2.0, model_s=0.5, epoch_s=2.5)
    assert [r[1:] for r in rows] == [(2.0, 500.0), (0.5, 2000.0), (2.5, 400.0)]
    assert rows[0][0].startswith("data alone") and rows[2][0].startswith("full epoch")


def test_08_speed_rows_compare_with_the_baseline() -> None:
    results = {"PIL": {"data_s": 4.0, "epoch_s": 5.0, "val_acc": 0.3},
               "channels_last": {"epoch_s": 2.0, "val_acc": 0.31}}
    rows = tables.speed_rows(1000, results, baseline_epoch_s=5.0, model_alone_s={"model alone": 1.0})
    assert rows == [("PIL", 250.0, 200.0, 1.0, 0.3), ("channels_last", None, 500.0, 2.5, 0.31),
                    ("model alone", None, 1000.0, 5.0, None)]
    text = tables.markdown(rows, tables.SPEED_HEADERS, formats=[None, ",.0f", ",.0f", ".2f", ".1%"])
    assert "| channels_last | – | 500 | 2.50 | 31.0% |" in text.splitlines()


def test_08_compile_rows_with_and_without_a_compiled_step() -> None:
    rows = tables.compile_rows(100, eager_s=0.004, compiled_s=0.002, compile_s=20.0)
    assert rows[0] == ("eager", 4.0, 25000.0, 1.0, None)
    assert rows[1][0] == "torch.compile" and rows[1][3] == 0.5 and rows[1][4] == 20.0
    assert rows[1][1] == pytest.approx(2.0)
    skipped = tables.compile_rows(100, eager_s=0.004, compiled_s=None, compile_s=None)
    assert skipped[1] == ("torch.compile: not run here", None, None, None, None)
    assert len(tables.COMPILE_HEADERS) == len(skipped[1])

# (end of lesson 08)
