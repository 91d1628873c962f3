"""Tests for course_utils.course.report: recorded results, the results table, the notebook runner."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest
import torch

from course_utils import config, report
from course_utils.course import results as results_page


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    return tmp_path / "build"


def test_record_writes_profile_device_source_and_versions(build: Path, capsys) -> None:
    cfg = config.setup(profile="smoke", epochs=3, verbose=False)
    path = report.record(
        "05", cfg=cfg, data_source="cifar10: subset (x.npz)", val_acc=torch.tensor(0.625), seconds=12.5
    )
    assert path == build / "results" / "05.json"
    entry = json.loads(path.read_text())
    assert entry["figures"] == {"val_acc": 0.625, "seconds": 12.5}  # the tensor became a float
    assert (entry["notebook"], entry["profile"], entry["device"]) == ("05", "smoke", str(cfg.device))
    assert (entry["data_source"], entry["data_kind"]) == ("cifar10: subset (x.npz)", "subset")
    assert entry["versions"]["torch"] == torch.__version__
    assert capsys.readouterr().out == "[course] recorded 05: val_acc=0.6250, seconds=12.5000\n"


@pytest.mark.parametrize(
    "source, kind",
    [
        ("cifar10: torchvision (/data)", "real"),
        ("cifar10: subset (/d/cifar10_subset.npz)", "subset"),
        ("mnist: synthetic (offline stand-in)", "synthetic"),
    ],
)
def test_source_kind(source: str, kind: str) -> None:
    assert report.source_kind(source) == kind


def test_results_show_each_lessons_headlines_in_words_beside_the_posts() -> None:
    subset = "cifar10: subset (/home/me/data/cifar10_subset.npz)"
    results = [
        {
            "notebook": "03",
            "profile": "quick",
            "device": "cpu",
            "recorded_at": "2026-11-30T10:00:00",
            "data_source": subset,
            "figures": {"test_acc": 0.3021, "seconds": 6.0},
        },
        {
            "notebook": "01",
            "profile": "smoke",
            "device": "cuda",
            "data_source": f"{subset}, mnist: synthetic (offline stand-in)",
            "figures": {"images_per_s_0_workers": 1234.5, "images_per_s_2_workers": 2000.0, "count": 3},
        },
        {
            "notebook": "02",
            "profile": "smoke",
            "device": "cpu",
            "data_source": subset,
            "figures": {"mean_r": 0.4914, "mean_g": 0.4822, "mean_b": 0.4465},
        },
    ]
    wall, failed = {"03": 8.4, "04": 2.0}, {"04": "cell 3: ValueError: bad"}
    text = results_page.results_table(results, wall, failed)
    lesson = {part.split("\n", 1)[0]: part for part in text.split("### Lesson ")[1:]}
    assert lesson["03"].splitlines()[2:7] == [
        "Measured in the **quick** profile on **cpu**; data: CIFAR-10 subset (cifar10_subset.npz).",
        "",
        "| what was measured | ours | the post's figure |",
        "| --- | ---: | --- |",
        "| test accuracy of the blitz network | 30.21 % | 53 %, after epoch 2, on the full CIFAR-10 test "
        "set (the blitz post) |",
    ]
    assert "| time to run the whole lesson | 6.0 s | — |" in lesson["03"]
    assert "data: CIFAR-10 subset (cifar10_subset.npz), MNIST offline stand-in (synthetic)." in lesson["01"]
    assert "| loading speed, no worker processes | 1,234 images/s | — |" in lesson["01"]
    assert "1 more figure, kept for the course's own checks, is in `results/01.json`." in lesson["01"]
    assert "| mean of the red, green and blue channels | 0.4914 · 0.4822 · 0.4465 | — |" in lesson["02"]
    assert lesson["04"].startswith("04\n\n**Failed** at cell 3: ValueError: bad")
    figures = text[: text.index("## Runs")]
    for raw_id in ("images_per_s_0_workers", "mean_r", "test_acc", "count", "/home/me"):
        assert raw_id not in figures  # words and units only; internal figures stay in the JSON
    assert results_page.runs_table(results, wall, failed).splitlines()[2:] == [
        "| 01 | smoke | cuda | cifar10: subset (cifar10_subset.npz), mnist: synthetic (offline stand-in) "
        "| - | - | ok |",
        "| 02 | smoke | cpu | cifar10: subset (cifar10_subset.npz) | - | - | ok |",
        "| 03 | quick | cpu | cifar10: subset (cifar10_subset.npz) | 2026-11-30 10:00 | 8 s | ok |",
        "| 04 | - | - | - | - | 2 s | FAILED: cell 3: ValueError: bad |",
    ]
    assert text.index("## Figures") < text.index(results_page.RESULTS_NOTE) < text.index("## Runs")


def test_a_new_lesson_shows_its_accuracies_and_times_in_words_and_the_post_figures_have_rows() -> None:
    """A lesson without a HEADLINES entry (a new one) shows its accuracies, times and speeds in words."""
    rows = results_page.headlines_of("42", {"plain_val_acc": 0.5, "warmup_seconds": 2.0, "ratio": 3.0})
    assert [(h.words, h.unit) for h in rows] == [
        ("plain validation accuracy", "%"),
        ("warmup time", "s"),
    ]
    rows = results_page.headlines_of("03", {"test_acc": 0.3, "train_acc": 0.4, "mean_r": 0.5})  # a new figure
    assert [h.words for h in rows] == ["test accuracy of the blitz network", "train accuracy"]
    names = [n for rows in results_page.HEADLINES.values() for h in rows for n in h.names if n != "seconds"]
    assert len(names) == len(set(names))  # no lesson's figure shown twice
    for (nb_id, name), figure in results_page.SOURCE_FIGURES.items():
        assert any(name in h.names for h in results_page.HEADLINES[nb_id]), (nb_id, name)
        assert "epoch" in figure.where


@pytest.mark.parametrize(
    "value, unit, text",
    [
        (0.3021, "%", "30.21 %"),
        (81.23, "s", "81.2 s"),
        (0.004, "s", "0.004 s"),
        (1234.5, "images/s", "1,234 images/s"),
        (2.314, "x", "2.31x"),
        (5085, "images", "5,085 images"),
        (2.4e-7, "", "2.4e-07"),
        (0.4914, "", "0.4914"),
    ],
)
def test_format_value_in_units(value: float, unit: str, text: str) -> None:
    assert results_page.format_value(value, unit) == text


@pytest.mark.parametrize(
    "source, short",
    [
        ("cifar10: subset (/home/me/shared/data/cifar10_subset.npz)", "cifar10: subset (cifar10_subset.npz)"),
        ("mnist: torchvision (C:\\Users\\me\\data)", "mnist: torchvision (data)"),
        (
            "cifar10: torchvision (download to /root/.cache/course_utils/data), "
            "mnist: synthetic (offline stand-in)",
            "cifar10: torchvision (data), mnist: synthetic (offline stand-in)",
        ),
    ],
)
def test_short_source_names_no_machine_path(source: str, short: str) -> None:
    assert results_page.short_source(source) == short


@pytest.mark.parametrize("bad_id", ["../../etc", "/tmp/evil", "..", ".", "", "a/b", "a\\b", " 03"])
def test_record_refuses_an_id_that_is_not_one_plain_name(build: Path, bad_id: str) -> None:
    with pytest.raises(ValueError, match="must be a plain name such as '03'"):
        report.record(bad_id, data_source="synthetic", acc=0.5)
    assert not build.exists() or not any(build.parent.rglob("*.json"))  # nothing written anywhere


def test_record_refuses_a_non_string_id(build: Path) -> None:
    with pytest.raises(ValueError, match="plain name"):
        report.record(3, data_source="synthetic", acc=0.5)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), torch.tensor(float("nan"))])
def test_record_refuses_non_finite_figures_and_keeps_the_old_result(build: Path, value) -> None:
    good = report.record("05", data_source="synthetic", val_acc=0.5)
    before = good.read_text()
    with pytest.raises(ValueError, match=r"figure val_acc is (nan|inf|-inf), not a finite number"):
        report.record("05", data_source="synthetic", val_acc=value, seconds=1.0)
    assert good.read_text() == before
    assert sorted(p.name for p in good.parent.iterdir()) == ["05.json"]  # no temp file left


@pytest.mark.parametrize(
    "value, hint",
    [
        (54.0, "it looks like a percentage; record test_acc=0.54"),
        (100, "it looks like a percentage; record test_acc=1"),
        (-0.1, "(0.54 for 54 %); nothing was recorded"),
        (250.0, "(0.54 for 54 %); nothing was recorded"),
    ],
)
def test_record_refuses_an_accuracy_outside_0_1(build: Path, value: float, hint: str) -> None:
    """The issue's reproduction: test_acc=54.0 was stored and passed every floor."""
    with pytest.raises(ValueError, match="is an accuracy, which the course records as a fraction in") as err:
        report.record("03", data_source="synthetic", test_acc=value)
    assert hint in str(err.value)
    with pytest.raises(ValueError, match="figure val_top5=1.5 is an accuracy"):
        report.record("07", data_source="synthetic", val_top5=1.5)
    assert not build.exists() or not any(build.rglob("*.json"))
    report.record(
        "08", data_source="synthetic", pil_val_acc=1.0, speedup=54.0, acc_gap=-0.2
    )  # 1.0 is a fraction; speedup and acc_gap (a difference) are no accuracies


def test_readers_of_results_name_a_file_they_cannot_read_and_go_on(build: Path, capsys) -> None:
    good = report.record("03", data_source="synthetic", test_acc=0.5)
    folder = good.parent
    (folder / "notes.json").write_text('{"mine": "a note of my own"}')
    (folder / "04.json").write_text("{broken")
    edited = json.loads(good.read_text())
    edited["figures"]["test_acc"] = 53.0  # a percentage typed by hand
    (folder / "05.json").write_text(json.dumps({**edited, "notebook": "05"}))
    (folder / "06.json").write_text("[1, 2]")
    results, unreadable = report.read_results()
    assert [r["notebook"] for r in results] == ["03"]
    assert {Path(p).name: why for p, why in unreadable.items()} == {
        "04.json": unreadable[str(folder / "04.json")],
        "05.json": "figure test_acc=53 is an accuracy, which the course records as a fraction in [0, 1] "
        "(0.54 for 54 %): it looks like a percentage; record test_acc=0.53",
        "06.json": "holds a JSON list, not a result written by report.record",
        "notes.json": "lacks notebook, profile, device, data_source, figures: not a result written by "
        "report.record",
    }
    assert unreadable[str(folder / "04.json")].startswith("not readable as JSON (Expecting property name")
    capsys.readouterr()
    assert report.main(["table"]) == 0  # `report table` goes on with the others
    out, err = capsys.readouterr()
    assert "### Lesson 03" in out and "| test accuracy of the blitz network | 50.00 % |" in out
    assert "- `results/notes.json`: lacks notebook" in out
    for name in ("04.json", "05.json", "06.json", "notes.json"):
        assert f"[course] left out {folder / name}: " in err


def test_report_run_with_a_missing_path_deletes_nothing(build: Path, tmp_path: Path, capsys) -> None:
    kept = report.record("03", data_source="synthetic", test_acc=0.5)
    before = kept.read_text()
    lesson = tmp_path / "03_lesson.ipynb"
    nbformat.write(notebook("x = 1"), lesson)
    missing = tmp_path / "04_nowhere.ipynb"
    assert report.main(["run", str(lesson), str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {missing}: not a readable notebook (FileNotFoundError")
    assert "nothing was run and no result deleted" in err and err.count("\n") == 1
    assert kept.read_text() == before and not (build / "notebooks").exists()


def test_record_refuses_a_figure_that_is_not_a_number(build: Path) -> None:
    with pytest.raises(TypeError, match="figure note='fast' is not a number"):
        report.record("05", data_source="synthetic", note="fast")


def test_record_writes_standard_json_atomically(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing leaves the previous file whole and no temporary file behind."""
    good = report.record("05", data_source="synthetic", val_acc=0.5)
    before = good.read_text()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        report.record("05", data_source="synthetic", val_acc=0.6)
    assert good.read_text() == before
    assert sorted(p.name for p in good.parent.iterdir()) == ["05.json"]
    json.loads(before)  # standard JSON (allow_nan=False guards it too)


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_run_notebooks_goes_on_after_a_failure_and_writes_the_table(build: Path, tmp_path: Path) -> None:
    good, bad = tmp_path / "10_good.ipynb", tmp_path / "11_bad.ipynb"
    nbformat.write(
        notebook("from course_utils import report", "report.record('10', data_source='synthetic', acc=0.5)"),
        good,
    )
    nbformat.write(notebook("x = 1", "raise ValueError('broken on purpose')", "x = 2"), bad)
    table, failed = report.run_notebooks([bad, good])
    assert failed == {"11": "cell 1: ValueError: broken on purpose"}
    text = table.read_text()
    assert text.startswith("# Course results\n\n## Figures\n\n" + results_page.RESULTS_NOTE)
    assert "### Lesson 10\n\nMeasured in the **smoke** profile on **cpu**; data: synthetic." in text
    assert "| accuracy | 50.00 % | — |" in text
    assert "### Lesson 11\n\n**Failed** at cell 1: ValueError: broken on purpose\n" in text
    assert (
        "| 11 | - | - | - | - | " in text and " s | FAILED: cell 1: ValueError: broken on purpose |" in text
    )
    executed = nbformat.read(build / "notebooks" / "11_bad.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["ename"] == "ValueError"
    assert executed.cells[2].outputs == []  # nothing ran after the failure
    assert report.main(["run", str(bad)]) == 1
    assert report.main(["nonsense"]) == 2


def test_run_notebooks_keeps_solutions_apart_and_stamps_the_run(build: Path, tmp_path: Path) -> None:
    """Solutions land in build/notebooks/solutions/ and never replace the lesson's copy or figures."""
    (tmp_path / "solutions").mkdir()
    lesson, solution = tmp_path / "12_x.ipynb", tmp_path / "solutions" / "12_x.ipynb"
    nbformat.write(
        notebook("from course_utils import report", "report.record('12', data_source='synthetic', acc=0.5)"),
        lesson,
    )
    nbformat.write(notebook("print('solution')"), solution)
    table, failed = report.run_notebooks([lesson, solution])
    assert failed == {}
    assert report.notebook_key(solution) == "12 solutions"
    executed = nbformat.read(build / "notebooks" / "12_x.ipynb", as_version=4)
    assert "report.record" in executed.cells[1].source
    sol = nbformat.read(build / "notebooks" / "solutions" / "12_x.ipynb", as_version=4)
    assert sol.cells[0].outputs[0]["text"] == "solution\n"
    stamp = sol.metadata["course_run"]
    assert (stamp["profile"], stamp["device"], stamp["failed"]) == ("smoke", "cpu", None)
    assert stamp["seconds"] > 0 and stamp["executed_at"][:2] == "20"
    assert json.loads((build / "results" / "12.json").read_text())["figures"] == {"acc": 0.5}
    assert re.search(
        r"\| 12 solutions \| - \| - \| - \| - \| \d+ s \| ran; records no figures \|", table.read_text()
    )


# ---------------------------------------------------------------------- the posts (issue 22.1, 22.2)
# ../shared/sources holds the five posts and a README naming each (title, short name, lessons).
# These tests read only the repository and those files; they skip where the sources are absent.
SOURCES = Path(__file__).resolve().parents[1].parent / "shared" / "sources"
REPO = Path(__file__).resolve().parents[1]
CONTRAST = re.compile(r"\b(?:than|against|vs|versus|compared|ours?|we|us|here)\b", re.I)
# A figure as a lesson writes it: 70.75 %, 0.001, 60,000, 224 (not v1, CIFAR-10, 5×5, 2.31x, 1.27 points)
FIGURE = re.compile(
    r"(?<![\w.\-/×])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s?%)?"
    r"(?![\w\-/×]|\.\d|\s?(?:points?|times|x\b|×))"
)


class Post(NamedTuple):
    key: str  # the file's number, for this test's messages only
    title: str
    short: str  # how a lesson names it
    lessons: tuple[str, ...]  # the lessons that retell it
    numbers: tuple[float, ...]  # every number in the post


def post_numbers(text: str) -> tuple[float, ...]:
    """Every number the post contains, in its text or code: 70.750000, 60000, 1e-03."""
    found = re.findall(r"\d+(?:\.\d+)?e[-+]?\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", text, re.I)
    return tuple(float(n.replace(",", "")) for n in found)


@pytest.fixture(scope="module")
def posts() -> list[Post]:
    if not (SOURCES / "README.md").is_file():
        pytest.skip("../shared/sources (the five posts) is not beside this checkout")
    found = []
    for row in re.findall(r"^\| `(\d{3}_\w+\.txt)` \|(.*)$", (SOURCES / "README.md").read_text(), re.M):
        cells = [c.strip() for c in row[1].split(" | ")]
        text = (SOURCES / row[0]).read_text()
        title = re.search(r"^title:\s*\"?(.*?)\"?\s*$", text, re.M)[1]
        short = re.search(r'"([^"]+)"', cells[1])[1]
        found.append(Post(row[0][:3], title, short, tuple(re.findall(r"\d\d", cells[2])), post_numbers(text)))
    assert len(found) == 5, "../shared/sources/README.md should list the five posts"
    return found


def names_of(post: Post) -> re.Pattern[str]:
    """How a sentence names ``post``: its title, its short name (also as "blog post", with 's),
    the bare form of a three-word short name ("the LeNet experiments"), or a file number."""
    short = re.escape(post.short).replace(r"\ post", r"(?:\ blog)?\ post")
    bare = re.sub(r" (?:post|tutorial)$", "", post.short)
    forms = [re.escape(post.title), short + "(?:'s)?", rf"\bseed {post.key}\b"]
    if len(bare.split()) >= 3:
        forms.append(re.escape(bare) + "(?:'s)?")
    return re.compile("|".join(forms), re.I)


GENERIC = re.compile(
    r"\bthe (?:blog )?posts?(?:'s|')?(?!\w)|\bthe blog(?:'s)?\b|\bthe sources?(?:'s|')?(?!\w)", re.I
)


def clauses(markdown: str) -> list[str]:
    """Sentences and their parts: code and link targets left out; a parenthesis, a relative
    clause and each side of a semicolon are parts of their own."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"`[^`]*`", " CODE ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text).replace("*", "")
    asides: list[str] = []
    while re.search(r"\([^()]*\)", text):  # innermost parentheses first
        text = re.sub(r"\(([^()]*)\)", lambda m: asides.append(m[1]) or " ", text)
    pieces = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])|;\s|\n\s*\n|\n\s*(?:[-*]|\d+\.)\s", text)
    pieces += asides
    return [p for piece in pieces for p in re.split(r",\s*(?:whose|which|where|while|whereas)\b", piece)]


def attributions(lesson: str, markdown: str, posts: list[Post]) -> list[tuple[str, list[Post], str]]:
    """(figure, the posts it is attributed to, the clause) for each figure a clause gives a post.

    A clause that names a post gives it its figures, unless a comparison word stands between
    ("4,760 more than the blitz's 62,006"); a possessive ("the post's 30 epochs") gives it only
    the figure right after it.
    """
    found = []
    for clause in map(" ".join, map(str.split, clauses(markdown))):
        retold = [p for p in posts if lesson in p.lessons] or posts
        spans = [(m, [p]) for p in posts for m in names_of(p).finditer(clause)]
        spans += [(m, retold) for m in GENERIC.finditer(clause)]
        for fig in FIGURE.finditer(clause) if spans else ():
            whole, decimals, percent = fig.groups()
            if not decimals and not percent and int(whole.replace(",", "")) <= 10:
                continue  # small whole numbers (2 epochs, 3 filters, 5×5) are everywhere
            valid = [
                (m, to)
                for m, to in spans
                if not m[0].endswith(("'s", "'"))
                or (m.end() <= fig.start() and len(clause[m.end() : fig.start()].split()) <= 1)
            ]
            if not valid:
                continue
            m, to = min(
                valid, key=lambda v: min(abs(v[0].start() - fig.end()), abs(fig.start() - v[0].end()))
            )
            if not CONTRAST.search(clause[min(m.end(), fig.end()) : max(m.start(), fig.start())]):
                found.append((fig.group(0).strip(), to, clause))
    return found


def in_post(figure: str, post: Post) -> bool:
    """True when the post holds ``figure`` as printed, or rounded as quoted (69.42 % <- 69.419998)."""
    number = re.match(r"[\d,]+(?:\.\d+)?", figure)[0].replace(",", "")
    places = len(number.partition(".")[2])
    return any(round(x, places) == float(number) for x in post.numbers)


def lesson_markdown() -> list[tuple[str, str, str]]:
    """(lesson, where, Markdown) for every Markdown cell of every lesson and solutions notebook."""
    cells = []
    for path in sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("notebooks/solutions/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells += [
            (path.name[:2], f"{path.relative_to(REPO)} [{i}]", cell.source)
            for i, cell in enumerate(nb.cells)
            if cell.cell_type == "markdown"
        ]
    return cells


def test_no_lesson_attributes_to_a_post_a_figure_the_post_does_not_contain(posts: list[Post]) -> None:
    """Every figure a lesson's Markdown gives "the post" (or a post by name) is in that post.

    A figure counts when it stands in one clause with the post's name, unless a comparison
    ("than", "against", "ours", "we", ...) separates them; it matches when the post holds it as
    printed or rounded as quoted. Small whole numbers (at most 10) and code are not checked.
    """
    wrong = [
        f"{where}: {figure} is not in {' or '.join(p.short for p in to)}: {clause}"
        for lesson, where, markdown in lesson_markdown()
        for figure, to, clause in attributions(lesson, markdown, posts)
        if not any(in_post(figure, p) for p in to)
    ]
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize(
    "sentence, lesson, flagged",
    [
        ("The transform resizes to 64 pixels (224 in the post).", "07", ["224"]),
        ("We step it for the post's 30 epochs.", "07", ["30"]),
        ("The post never steps it, so its rate stays at 0.001 for all 30 epochs.", "07", ["30"]),
        ("As in the blog: `CrossEntropyLoss` and Adam with learning rate 0.001.", "04", ["0.001"]),
        ("The MNIST post printed 97.66 % after 70 s.", "07", []),  # named: checked against that post
        ("The blitz post reached 53 %; ours reached 31.2 %.", "03", []),  # our figure, its own clause
        ("So 66,766 in all, 4,760 more than the blitz's 62,006.", "03", []),
        ("With the post's `StepLR` and 159 batches per epoch (5,085 images)", "07", []),
        ("The post calls `resnet50()`, whose last layer has 1,000 outputs.", "07", []),
        ("LeNet v2 printed 70.75 % at epoch 12 in the LeNet experiments post.", "06", []),
        ("The post reached 99.1 %.", "06", ["99.1 %"]),
        ("Our own run reached 99.1 % on 5,085 images.", "06", []),  # no post named
    ],
)
def test_the_attribution_check_flags_exactly_the_wrong_figures(
    posts: list[Post], sentence: str, lesson: str, flagged: list[str]
) -> None:
    wrong = [f for f, to, _ in attributions(lesson, sentence, posts) if not any(in_post(f, p) for p in to)]
    assert wrong == flagged


def test_every_source_figure_is_in_its_post(posts: list[Post]) -> None:
    by_short = {p.short: p for p in posts}
    for (nb_id, name), figure in results_page.SOURCE_FIGURES.items():
        post = by_short[figure.post]  # a post's short name, as the sources' README gives it
        assert in_post(figure.text, post), (nb_id, name, figure)
        assert nb_id in post.lessons, f"{figure.post} is not retold by lesson {nb_id}"
        epoch = re.search(r"epoch (\d+)", figure.where)
        assert epoch and in_post(epoch[1], post), figure.where


FILE_NUMBER = re.compile(r"\bseed(?:s)?(?: files?)?\s*0\d\d\b|\bseed files?\b|\bposts? 00\d\b", re.I)


def test_no_post_is_named_by_its_file_number() -> None:
    """ "seed 002" means nothing to a learner (and "seed" is a random seed everywhere else)."""
    texts = {
        "README.md": (REPO / "README.md").read_text(),
        "tests/expected_results.toml": (REPO / "tests" / "expected_results.toml").read_text(),
    }
    texts |= {str(p.relative_to(REPO)): p.read_text() for p in sorted(REPO.glob("course_utils/course/*.py"))}
    texts |= {str(p.relative_to(REPO)): p.read_text() for p in sorted(REPO.glob("docs/*.py"))}
    texts |= {where: markdown for _, where, markdown in lesson_markdown()}
    found = [f"{where}: {m[0]!r}" for where, text in texts.items() for m in FILE_NUMBER.finditer(text)]
    assert found == [], "\n".join(found)


def test_readme_names_the_five_posts_and_the_lessons_that_retell_them(posts: list[Post]) -> None:
    section = re.search(r"^## Sources\n(.*?)(?=^## |\Z)", (REPO / "README.md").read_text(), re.S | re.M)
    assert section, "README.md has no '## Sources' section"
    rows = [line for line in section[1].splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 5
    lessons = {p.name[:2] for p in REPO.glob("notebooks/*.ipynb")}
    for post, row in zip(posts, rows, strict=True):
        assert post.title in row and f"*{post.short}*" in row, row
        retold = re.findall(r"\b\d\d\b", row.rsplit("|", 2)[1])
        assert set(post.lessons) <= set(retold) <= lessons, row


def test_results_go_to_the_checkouts_build_folder_from_any_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook's kernel runs in notebooks/: its results must still reach build/ (was notebooks/build)."""
    monkeypatch.delenv("COURSE_BUILD_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert report.build_dir() == REPO / "build"
