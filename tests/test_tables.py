"""course_utils.tables: rows in, one Markdown table out."""

from __future__ import annotations

import pytest

from course_utils import tables


def test_markdown_aligns_numbers_right_and_formats_columns() -> None:
    text = tables.markdown(
        [("cat", 0.5, 1200), ("dog", None, 3)], ["class", "acc", "images"], formats=[None, ".1%", None]
    )
    assert text.splitlines() == [
        "| class | acc | images |",
        "| --- | ---: | ---: |",
        "| cat | 50.0% | 1,200 |",
        "| dog | – | 3 |",
    ]


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
        ["cat", 10, 5, 0.5],
        ["dog", 4, 4, 1.0],
        ["eel", 2, 0, 0.0],
    ]
    assert tables.confused_pairs(cm, ["cat", "dog", "eel"], top=3) == [
        ["cat", "dog", 3, 0.3],
        ["cat", "eel", 2, 0.2],
        ["eel", "cat", 1, 0.5],
    ]
    assert tables.per_class_rows([[0, 0], [0, 1]], ["a", "b"])[0] == ["a", 0, 0, None]  # no samples
    with pytest.raises(ValueError, match="2 x 2"):
        tables.per_class_rows([[1, 2, 3]], ["a", "b"])


# (end of lesson 03)


# ---- lesson 04 ------------------------------------------------------------
def test_speed_rows_put_the_blog_beside_ours() -> None:
    rows = tables.speed_rows(
        {"per sample": (70, 0.9766)}, {"per sample": (12.5, 0.98)}, {"per sample": 60_000}
    )
    assert rows == [["per sample", 60_000, 70, 0.9766, 12.5, 0.98]]
    text = tables.markdown(rows, tables.SPEED_HEADERS, formats=tables.SPEED_FORMATS)
    assert text.splitlines()[-1] == "| per sample | 60,000 | 70 | 97.66% | 12.5 | 98.00% |"
    with pytest.raises(ValueError, match="same runs"):
        tables.speed_rows({"a": (1, 0.5)}, {"b": (1, 0.5)}, {"b": 1})


# (end of lesson 04)


# ---- lesson 05 ------------------------------------------------------------
def _history(train_acc, val_acc, train_loss, val_loss):
    from course_utils.engine import History

    h = History()
    for i, row in enumerate(zip(train_acc, val_acc, train_loss, val_loss, strict=False), start=1):
        h.append(epoch=i, train_acc=row[0], val_acc=row[1], train_loss=row[2], val_loss=row[3])
    return h


def test_overfitting_summary_finds_the_turn() -> None:
    h = _history([0.4, 0.55, 0.7, 0.8], [0.45, 0.52, 0.54, 0.53], [1.6, 1.2, 0.9, 0.6], [1.5, 1.3, 1.35, 1.5])
    s = tables.overfitting_summary(h)
    assert (s["best_epoch"], s["last_epoch"], s["gap_from"]) == (2, 4, 2)
    assert s["final_gap"] == pytest.approx(0.27) and s["rise"] == pytest.approx(0.2)
    rows = tables.overfitting_rows(h)
    assert [r[0] for r in rows] == ["1", "2 (lowest val loss)", "3", "4"]
    assert rows[0][5] == pytest.approx(-0.05)
    verdict = tables.overfitting_verdict("v1", s)
    assert verdict[0].startswith("v1: validation loss lowest after epoch 2, then up by 0.200")
    assert "from epoch 2 on; gap at the end +27.0%" in verdict[1]


def test_overfitting_verdict_when_nothing_overfits_yet() -> None:
    s = tables.overfitting_summary(_history([0.3], [0.35], [2.0], [1.9]))
    assert tables.overfitting_verdict("v2", s) == [
        "v2: validation loss still falling at the last epoch (1): no overfitting visible yet",
        "v2: training accuracy not above validation accuracy at the end (gap -5.0%)",
    ]


def test_overfitting_summary_needs_validation_figures() -> None:
    from course_utils.engine import History

    with pytest.raises(ValueError, match="validation figure"):
        tables.overfitting_summary(History())


def test_results_rows() -> None:
    h = _history([0.6], [0.5], [1.0], [1.2])
    runs = {
        "LeNet v1": {
            "parameters": 657_080,
            "history": h,
            "summary": tables.overfitting_summary(h),
            "test_acc": 0.48,
        }
    }
    rows = tables.results_rows(runs, {"LeNet v1": 0.6942})
    assert rows == [["LeNet v1", 657_080, 0.6942, 0.5, 1, 0.48, pytest.approx(0.1)]]
    text = tables.markdown(rows, tables.RESULTS_HEADERS, formats=tables.RESULTS_FORMATS)
    assert "| LeNet v1 | 657,080 | 69.42% | 50.0% | 1 | 48.0% | +10.0% |" in text


# (end of lesson 05)


# ---- lesson 06 ------------------------------------------------------------
def test_gap_summary_and_rows() -> None:
    h = _history(
        [0.4, 0.5, 0.6, 0.7, 0.75],
        [0.4, 0.45, 0.5, 0.52, 0.53],
        [1.6, 1.3, 1.1, 0.9, 0.8],
        [1.6, 1.4, 1.3, 1.32, 1.35],
    )
    s = tables.gap_summary(h)
    assert s["best_loss_epoch"] == 3 and s["val_acc"] == 0.53
    assert s["acc_gap"] == pytest.approx(0.22) and s["loss_gap"] == pytest.approx(0.55)
    assert s["trend"] == pytest.approx(2.6)  # slope through 45, 50, 52, 53 (points per epoch)
    assert tables.gap_summary(h, last=1)["trend"] is None
    rows = tables.gap_rows({"plain": s}, {"plain": 0.7069}, {"plain": 0.51})
    text = tables.markdown(rows, tables.GAP_HEADERS, formats=tables.GAP_FORMATS)
    assert text.splitlines()[-1] == "| plain | 70.69% | 53.0% | +22.0% | +0.550 | 3 | +2.6 | 51.0% |"
    with pytest.raises(ValueError, match="validation figure"):
        from course_utils.engine import History

        tables.gap_summary(History())


# (end of lesson 06)


# ---- lesson 07 ------------------------------------------------------------

# (end of lesson 07)


# ---- lesson 08 ------------------------------------------------------------
def test_08_time_split_rows_are_seconds_and_rates() -> None:
    rows = tables.time_split_rows(1000, data_s=2.0, model_s=0.5, epoch_s=2.5)
    assert [r[1:] for r in rows] == [(2.0, 500.0), (0.5, 2000.0), (2.5, 400.0)]
    assert rows[0][0].startswith("data alone") and rows[2][0].startswith("full epoch")


def test_08_speed_rows_compare_with_the_baseline() -> None:
    results = {
        "PIL": {"data_s": 4.0, "epoch_s": 5.0, "val_acc": 0.3},
        "channels_last": {"epoch_s": 2.0, "val_acc": 0.31},
    }
    rows = tables.faster_rows(1000, results, baseline_epoch_s=5.0, model_alone_s={"model alone": 1.0})
    assert rows == [
        ("PIL", 250.0, 200.0, 1.0, 0.3),
        ("channels_last", None, 500.0, 2.5, 0.31),
        ("model alone", None, 1000.0, 5.0, None),
    ]
    text = tables.markdown(rows, tables.FASTER_HEADERS, formats=[None, ",.0f", ",.0f", ".2f", ".1%"])
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
