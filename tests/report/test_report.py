"""write_report on the synthetic results: both formats, every section and figure, escaping, notes for no data."""

from __future__ import annotations

import base64
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from problems.errors import UserInputError
from testbed.report import build_report, render_html, render_markdown, write_report
from testbed.report.document import CodeBlock, FigureBlock, Report, Section, TableBlock, TextBlock

SECTIONS = ["overview", "spec", "environment", "best", "certificates", "convergence", "comparison", "training",
            "failures"]
FIGURES = ["certificates", "suboptimality-iter", "suboptimality-grad_evals", "suboptimality-time_s", "grad-norm",
           "descent-slack", "lr-sensitivity", "performance-profile", "data-profile", "training"]


class Page(HTMLParser):
    """The parts of a page the tests look at: section ids, images, scripts, URLs, and tables by heading."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[dict] = []
        self.scripts = 0
        self.urls: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._heading: str | None = None
        self._in_h3 = False
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v is not None]
        if tag == "section":
            self.sections.append(attrs["id"])
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "script":
            self.scripts += 1
        elif tag == "h3":
            self._in_h3, self._heading = True, ""
        elif tag == "table":
            self.tables[self._heading] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in_h3 = False
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr":
            self.tables[self._heading].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._in_h3:
            self._heading += data
        if self._cell is not None:
            self._cell.append(data)


def decodes(png: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        img.load()
        return img.size


def test_write_report_writes_index_html_and_report_md_with_figures(written_report, tables):
    root = written_report.parent
    assert written_report == root / "index.html" and written_report.is_file()
    assert (root / "report.md").is_file()
    pngs = sorted((root / "figures").glob("*.png"))
    assert sorted(p.stem for p in pngs) == sorted(FIGURES)
    for png in pngs:
        width, height = decodes(png.read_bytes())
        assert width > 300 and height > 200


def test_index_html_is_self_contained_and_has_every_section(written_report, tables):
    text = written_report.read_text(encoding="utf-8")
    page = Page(text)
    assert page.sections == SECTIONS
    assert page.scripts == 0
    # Nothing loads from elsewhere: every URL is an in-page anchor or a data URI.
    assert page.urls and all(u.startswith(("#", "data:")) for u in page.urls)
    assert len(page.images) == len(FIGURES)
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        assert decodes(base64.b64decode(img["src"][len(prefix):])) == (int(img["width"]), int(img["height"]))
    assert {img["alt"] for img in page.images} >= {"Suboptimality against wall time", "Performance profiles"}
    env = tables["manifest"]["environment"]
    assert env["packages"]["numpy"] in text and env["platform"] in text


def test_index_html_escapes_text_from_the_results(written_report):
    text = written_report.read_text(encoding="utf-8")
    assert "<script" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text  # spec, description and a run message
    assert "synthetic &lt;demo&gt; &amp; co" in text


def test_index_html_tables(written_report):
    page = Page(written_report.read_text(encoding="utf-8"))
    checks = page.tables["Checks, violations first"]
    verdicts = [row[0] for row in checks[1:]]
    assert verdicts[:2] == ["violated", "violated"] and verdicts[2] == "held (roundoff)"
    assert set(verdicts[3:]) == {"held"}
    header = checks[0]
    never = header.index("first violation (iter)")
    assert checks[1][never] == "1" and checks[3][never] == "—"  # -1 ("none") is shown as missing
    summary = page.tables["Summary per bound (violations first)"]
    assert summary[1][0] == "descent_lemma" and summary[1][4] == "2"
    best_table = page.tables["Best configuration per optimizer and problem, by final gap"]
    best = {(r[0], r[1]): r for r in best_table[1:]}
    assert best[("quad-5", "gd")][2] == "gd lr=0.25"  # lr=0.6 diverged, so it cannot be best
    assert best[("quad-5", "gd")][best_table[0].index("failed")] == "1"
    assert best[("quad-5", "gd")][best_table[0].index("decided by")] == "final gap"
    cost_table = next(rows for title, rows in page.tables.items() if title.startswith("Best configuration by cost"))
    cost = {(r[0], r[1]): r for r in cost_table[1:]}
    assert cost_table[0][3:5] == ["best by gradient evaluations", "gradient evaluations"]  # full-batch runs only
    assert cost[("quad-5", "gd")][3:5] == ["gd lr=0.25", "20"]
    failed = page.tables["4 run(s)"]
    assert [r[0] for r in failed[1:]] == ["error", "error", "diverged", "diverged"]
    assert "build: LinAlgError: singular <matrix>" in failed[1][5]


def test_report_md_has_the_same_sections_and_figures(written_report):
    root = written_report.parent
    md = (root / "report.md").read_text(encoding="utf-8")
    titles = ("Overview", "Specification", "Environment", "Best configurations", "Theory certificates", "Convergence",
              "Comparison across problems", "Training curves (ERM)", "Runs that diverged or errored")
    for title in titles:
        assert f"\n## {title}\n" in md
    for key in FIGURES:
        assert f"](figures/{key}.png)" in md and (root / "figures" / f"{key}.png").is_file()
    outside_code = re.sub(r"```toml\n.*?\n```", "", md, flags=re.DOTALL)
    assert "<script>" not in outside_code and "\\<script\\>" in outside_code
    checks = md.split("### Checks, violations first\n\n", 1)[1].splitlines()
    assert checks[2].startswith("| violated |")


def _without_histories(results_dir: Path, target: Path) -> Path:
    """A copy holding only the runs that errored before recording anything."""
    shutil.copytree(results_dir, target)
    for path in (target / "runs").iterdir():
        if "lbfgs" not in path.name:
            path.unlink()
    return target


def test_figures_without_data_are_omitted_with_a_note(results_dir, tmp_path):
    root = _without_histories(results_dir, tmp_path / "r")
    index = write_report(root)
    text = index.read_text(encoding="utf-8")
    page = Page(text)
    assert page.sections == SECTIONS and page.images == []
    assert "Omitted: no run history in this directory." in text
    assert "Omitted: step-size sensitivity: no run has a learning rate." in text
    assert "No certificate was computed." in text
    assert "build: LinAlgError: singular &lt;matrix&gt;" in text
    md = (root / "report.md").read_text(encoding="utf-8")
    assert "Omitted: step\\-size" not in md and "Omitted: step-size sensitivity" in md
    assert list((root / "figures").glob("*.png")) == []
    assert write_report(root, formats=("md",)) == root / "report.md"


def test_reports_are_deterministic_apart_from_the_timestamp(results_dir, tmp_path):
    root = _without_histories(results_dir, tmp_path / "r")
    first, second = build_report(root), build_report(root)
    second.generated = first.generated
    assert render_html(first) == render_html(second)
    assert render_markdown(first) == render_markdown(second)


def test_bad_input_is_named(results_dir, tmp_path):
    with pytest.raises(UserInputError, match="formats: must be a non-empty selection of 'html', 'md'"):
        write_report(results_dir, formats=("pdf",))
    with pytest.raises(UserInputError, match="formats"):
        write_report(results_dir, formats=())
    with pytest.raises(UserInputError, match="not a results directory"):
        write_report(tmp_path)
    with pytest.raises(UserInputError, match="tol: must be < 1"):
        build_report(results_dir, tol=2.0)


def test_renderers_escape_every_block():
    evil = "<img src=x onerror=alert(1)> | `tick` & *star*"
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    report = Report(evil, [evil], "2025-01-01T00:00:00+00:00", [Section("s", evil, [
        TextBlock(evil),
        CodeBlock("```\n" + evil),
        TableBlock(evil, pd.DataFrame({evil: [evil]}), caption=evil),
        FigureBlock("f", evil, evil, png),
        FigureBlock("g", evil, evil, None, note=evil),
    ])])
    page = render_html(report)
    assert "<img src=x" not in page and page.count("&lt;img src=x onerror=alert(1)&gt;") >= 9
    md = render_markdown(report)
    assert "````\n```\n" in md  # the fence outgrows the backticks inside the code
    assert "\\<img src=x onerror=alert\\(1\\)\\>" not in md  # parentheses need no escape
    assert md.count("\\<img src=x onerror=alert(1)\\> \\| \\`tick\\` & \\*star\\*") >= 7


def test_minibatch_runs_switch_the_comparison_cost_to_epochs(tables):
    from testbed.report.build import comparison_cost
    from testbed.report.tables import best_by_cost

    runs = tables["runs"]
    assert comparison_cost(runs) == "grad_evals"
    minibatch = runs.assign(batch_size=[32.0] + [float("nan")] * (len(runs) - 1))
    assert comparison_cost(minibatch) == "epochs"
    # The synthetic logreg runs count 0.25 epoch per gradient evaluation: sgd reaches its target at 40 evaluations.
    table = best_by_cost(tables["results"], runs, cost="epochs").set_index(["problem", "optimizer"])
    assert table.loc[("logreg", "sgd"), "cost"] == pytest.approx(10.0)
