"""The results page (benchmarks/results.py, docs/results.md): rendered from the steps' JSON, the
figures README and the docs pages quote are on it, and it is not far behind the code that makes its
figures. README is a front door: short, and linking every docs page."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import results

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def quoting_pages() -> list[Path]:
    """README and every docs page but the results page itself: the pages that quote figures."""
    return [README, *sorted(p for p in DOCS.glob("*.md") if p.name != results.DOC.name)]

# A step's figures are stale when more than this many commits touched its inputs
# (results.INPUTS[step]) after the commit that last wrote its docs/results/<step>.json. Counted in
# the checked-out history, so it holds across rebases and merges (the hash recorded in the JSON
# may not survive them) and needs no clock: the same checkout always gives the same answer. Any
# change may move a figure, but rerunning ~1 h of steps for each commit is not practical, so a
# few commits of slack; issue 21's stale figure sat 20+ such commits behind.
STALE_AFTER_COMMITS = 10

# ---------------------------------------------------------------- what counts as a figure
# A figure is a number with a decimal point (0.948, 98.8 s, 0.56 GB, 1.37x) or a thousands
# separator (9,589) in README's prose and tables. Not figures: code (fenced blocks, `spans`: the
# parameter defaults, commands), HTML comments, link targets, versions (x.y.z, or after a
# product name) and the decimals listed here with their reason. Integers with a unit ("10 s",
# "16 MiB") are mostly settings (timeouts, limits) and are not checked.
NOT_FIGURES = {
    "4.0": "CC BY 4.0, a licence name",
    "0.85": "the guard's recall target (a goal, not a measurement)",
    "0.10": "the guard's false-flag target (a goal, not a measurement)",
    "0.1": "the container test's tolerance between runners (a setting of the test)",
    "1.15": "Knative 1.15, a version",
    "0.16": "KServe 0.16, a version",
    "1,000": "ShareGPT prompts under 1,000 characters (an ingest filter)",
    "0.2": "the memory sampler's interval (a setting of the script)",
    "100,000": "a limit (characters per text; rows a file may not have)",
    "2,000,000": "a limit (characters per request)",
    "10,000": "a limit (characters per prompt, rows per file)",
    "3,000": "the max_per_source default (a setting)",
    "0.999": "the encoder check's cosine threshold (a setting of provisioning)",
    "0.80": "the guard gate's per-language recall target (a goal, not a measurement)",
    "0.02": "the guard gate's largest allowed regression (a setting)",
    "4.6": "py3langid's model size (a property of the pinned package)",
    "1,680": "the written prompts in components/data/hazards.py (a count of the source, not a result)",
    "2,200": "the texts the probe evaluation adds per model (from the probe set's sizes)",
    "0.25": "PyRIT harm score at or below which a reply is safe (a labelling rule)",
    "0.75": "PyRIT harm score at or above which a reply is harmful compliance (a labelling rule)",
    "0.5": "PyRIT's middle harm score, left out (a labelling rule)",
    "0.95": "the response guard's target for refusals judged safe (a goal)",
    "0.7": "the serving-onnx image size target (a goal)",
}
_FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.M | re.S)
_SPAN = re.compile(r"`[^`\n]*`")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_LINK = re.compile(r"\]\([^)]*\)")
_NUMBER = re.compile(r"(?<![\w.,/-])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(?![\w.,]*\d)")
_PRODUCT = re.compile(r"(?i)(python|kserve|knative|kubectl|kustomize|cuda|torch|keras|kfp|"
                      r"transformers|tensorflow|v)\s?$")


def figures(markdown: str) -> list[str]:
    """The figures of a Markdown text (see above), in order."""
    text = _LINK.sub("]", _SPAN.sub(" ", _COMMENT.sub(" ", _FENCE.sub(" ", markdown))))
    return [m.group(1) for m in _NUMBER.finditer(text)
            if not _PRODUCT.search(text[max(0, m.start() - 16):m.start()])
            and m.group(1) not in NOT_FIGURES]


def page_numbers(page: str) -> set[str]:
    return set(re.findall(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", page))


def test_the_figure_finder_finds_figures_and_skips_code_and_versions():
    text = ("Accuracy 0.948 (9,589 prompts, 98.8 s); `--balance-ratio 0.5`; Python 3.11; kserve "
            "0.21; image 0.1.0; 1.37x; CC BY 4.0.\n```\nmake run  # 12.5 s\n```\n<!-- 7.7 -->")
    assert figures(text) == ["0.948", "9,589", "98.8", "1.37"]


# Sections of docs pages measured before the results page existed, not yet rerun by a step of
# `make results` (heading -> why). Their figures are not checked; every other section of the page
# is. A section runs from its heading to the next heading of the same or a higher level.
NOT_ON_THE_PAGE_YET = {
    "docs/serving.md": {
        "### Engines: ONNX Runtime int8 (default) or torch fp32":
            "issue 20's engine measurements; the bench-engines block is written by "
            "`make bench-engines` (benchmarks/bench_engines.py), which no results step runs",
        "### Reading the numbers (targets, what limits them)":
            "the 2026-11-29 serving investigation (in-process timings, not a benchmark step)",
        "## Hardening checks: `make fuzz`, `make soak`":
            "`make fuzz`'s before/after table of 2026-11-29 (fuzz is not a results step)",
    },
}
# Single figures of docs pages measured once outside any results step (page -> figure -> why).
NOT_ON_THE_PAGE_FIGURES = {
    "docs/serving.md": {
        "619.8": "a lora server's RSS before a 100 MB unterminated header (one manual check)",
        "620.2": "the same server's RSS after it (one manual check)",
    },
}
_HEADING = re.compile(r"^(#{1,6}) ")


def without_sections(markdown: str, headings: set[str] | dict[str, str]) -> str:
    """The Markdown text less the sections whose heading line is in `headings` (see above)."""
    kept, skip_level, fence = [], 0, False
    for line in markdown.split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
        heading = None if fence else _HEADING.match(line)
        if heading and skip_level and len(heading.group(1)) <= skip_level:
            skip_level = 0
        if heading and line.strip() in headings:
            skip_level = len(heading.group(1))
        if not skip_level:
            kept.append(line)
    return "\n".join(kept)


def checked_text(page: Path) -> str:
    """The text of a quoting page whose figures must be on the results page."""
    name = page.relative_to(ROOT).as_posix()
    return without_sections(page.read_text(), NOT_ON_THE_PAGE_YET.get(name, {}))


def test_sections_left_unchecked_exist_and_the_rest_is_checked():
    for name, headings in NOT_ON_THE_PAGE_YET.items():
        lines = (ROOT / name).read_text().split("\n")
        assert set(headings) <= set(lines), f"{name}: no such heading: {set(headings) - set(lines)}"
    for name, known in NOT_ON_THE_PAGE_FIGURES.items():
        assert set(known) <= set(figures((ROOT / name).read_text())), f"{name}: {known}"
    text = "# A\n0.123\n## B\n0.456\n```\n# not a heading\n```\n0.789\n### C\n1.5\n## D\n2.5\n"
    assert figures(without_sections(text, {"## B"})) == ["0.123", "2.5"]


def test_every_figure_in_readme_and_the_docs_is_on_the_results_page():
    """README and the docs pages quote the page (or link to it): a figure that is not on the page
    is a figure that nothing reproduces."""
    on_page = page_numbers(results.DOC.read_text())
    missing = {}
    for page in quoting_pages():
        name = page.relative_to(ROOT).as_posix()
        known = NOT_ON_THE_PAGE_FIGURES.get(name, {})
        off = [f for f in figures(checked_text(page)) if f not in on_page and f not in known]
        if off:
            missing[name] = off
    assert not missing, (f"figures that are not on {results.DOC.name}: {missing}. "
                         "Quote the page (make results writes it) or link to it.")


# README can mark where a step's figures are quoted: <!-- results:STEP --> ... <!-- /results -->.
# Inside such a block a figure must be on that step's section of the page (not anywhere on it,
# where the same number may stand for something else); until the step has a record, on the page's
# recorded figures (docs/results/recorded.md), which the step then replaces.
_BLOCK = re.compile(r"<!--\s*results:([\w-]+)\s*-->(.*?)<!--\s*/results\s*-->", re.S)


def page_section(page: str, anchor: str) -> str:
    """The page's text from `<a name="anchor">` to the next anchor ('' when it has none)."""
    start = page.find(f'<a name="{anchor}"></a>')
    if start < 0:
        return ""
    end = page.find("<a name=", start + 1)
    return page[start:] if end < 0 else page[start:end]


def block_figures_off_their_section(readme: str, page: str, steps: set[str]
                                    ) -> dict[str, list[str]]:
    """Per README block (see _BLOCK): its figures that are not on its step's section (or on the
    recorded figures, for a step in `steps` that has no record yet)."""
    off: dict[str, list[str]] = {}
    for step, block in _BLOCK.findall(readme):
        if step not in results.TITLES:
            off[step] = [f"not a step of benchmarks/results.py: {step}"]
            continue
        section = page_section(page, step if step in steps else "recorded")
        missing = [f for f in figures(block) if f not in page_numbers(section)]
        if missing:
            off[step] = off.get(step, []) + missing
    return off


def test_results_blocks_quote_their_steps_section_of_the_page():
    """The blocks of README and of every docs page (the response stand-in's, the demo's...)."""
    texts = {p.relative_to(ROOT).as_posix(): p.read_text() for p in quoting_pages()}
    assert _BLOCK.search(texts["README.md"]), "README marks no results block (the demo's)"
    assert any(_BLOCK.search(t) for n, t in texts.items() if n != "README.md"), (
        "no docs page marks a results block (the response stand-in's, docs/response-guard.md)")
    page, steps = results.DOC.read_text(), set(results.load_records())
    off = {name: o for name, text in texts.items()
           if (o := block_figures_off_their_section(text, page, steps))}
    assert not off, (f"figures in <!-- results:STEP --> blocks that are not on that "
                     f"step's section of {results.DOC.name}: {off}. Quote the page as it is now "
                     "(make results ONLY=STEP writes it).")


def test_a_block_figure_from_another_section_is_caught():
    page = ('<a name="guard"></a>\n\n0.757 0.931\n<a name="response"></a>\n\n0.949 1,440\n'
            '<a name="recorded"></a>\n\nold 0.607\n')
    block = "<!-- results:response -->test 0.949 (1,440 rows), held out 0.757<!-- /results -->"
    assert block_figures_off_their_section(block, page, {"guard", "response"}) == {
        "response": ["0.757"]}  # on the page, but the guard's figure
    assert block_figures_off_their_section(block.replace("0.757", "0.607"), page, {"guard"}) == {
        "response": ["0.949", "1,440"]}  # not run yet: the recorded figures count
    assert block_figures_off_their_section("<!-- results:respnse -->1.5<!-- /results -->", page,
                                           set())


def test_every_step_has_a_title_a_function_and_inputs_that_exist():
    assert set(results.TITLES) == set(results.STEP_FUNCS) == set(results.INPUTS) == set(
        results.ALL_STEPS)
    missing = [p for paths in (*results.INPUTS.values(), *results.INPUTS_EXCLUDED.values())
               for p in paths if not (ROOT / p).exists()]
    assert not missing, f"INPUTS names paths that do not exist: {missing}"


def test_guard_only_data_is_left_out_of_the_steps_that_never_read_it():
    """The translations are a run-guard ingest source: a change to them makes the guard steps
    and the demo's quick guard stale, not the seed pipelines or the servers' benchmarks."""
    for step in ("guard", "guard-minilm", "demo"):
        assert not any(p.startswith(":(exclude)") for p in results.input_pathspecs(step))
    assert ":(exclude)components/data/translation_data" in results.input_pathspecs("seed")
    seed_specs = results.input_pathspecs("seed")
    assert _git("rev-list", "--count", "HEAD", "--", *seed_specs) != "" or not _git(
        "rev-parse", "--is-inside-work-tree")  # git accepts the pathspecs


def test_serving_doc_links_to_the_page_instead_of_carrying_the_benchmark():
    doc = (ROOT / "docs" / "serving.md").read_text()
    assert "results.md#bench" in doc
    assert "bench-serve:start" not in doc and "| lora | raw |" not in doc


# ---------------------------------------------------------------- the page and its freshness
def _git(*args: str) -> str:
    res = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return res.stdout.strip() if res.returncode == 0 else ""


def test_the_page_is_what_the_step_records_render(tmp_path):
    """docs/results.md is not edited by hand: it is the rendering of docs/results/*.json."""
    records = results.load_records()
    assert records, "no step records in docs/results/: run `make results`"
    assert results.render(records, tmp_path) == results.DOC.read_text(), (
        "docs/results.md differs from its records: run `make results --render` "
        "(python -m benchmarks.results --render)")


def test_the_page_is_not_far_behind_the_code():
    if not _git("rev-parse", "--is-inside-work-tree"):
        pytest.skip("not a git checkout")
    behind = {}
    for step in results.load_records():
        record = f"docs/results/{step}.json"
        landed = _git("log", "-1", "--format=%H", "--", record)
        if not landed:  # not committed yet: newer than anything in the history
            continue
        n = int(_git("rev-list", "--count", f"{landed}..HEAD", "--",
                     *results.input_pathspecs(step)) or 0)
        if n > STALE_AFTER_COMMITS:
            behind[step] = n
    assert not behind, (f"results page steps behind the code (commits touching their inputs "
                        f"since their figures landed, > {STALE_AFTER_COMMITS}): {behind}. Run "
                        f"`make results ONLY={','.join(behind)}` and commit docs/results*.")


# ---------------------------------------------------------------- the module, on fake runs
LABELS = ["Safe", "Violent Crimes", "other"]


def _metrics(acc: float) -> dict:
    return {"accuracy": acc, "macro_f1": acc - 0.1, "weighted_f1": acc - 0.05,
            "per_class": {c: {"precision": acc, "recall": acc, "f1": acc, "support": 5}
                          for c in LABELS}}


def _binary(recall, flags, unsafe=4, safe=6):
    return {"unsafe_recall": recall, "false_flag_rate": flags, "unsafe": unsafe, "safe": safe}


def fake_run(root: Path, guard: bool = False, extra: dict | None = None,
             evaluate_task: str = "evaluate") -> Path:
    """A pipeline run directory with what the steps read: <evaluate_task>/summary (run-response's
    task is evaluate-response), model_info.json, the preprocess splits."""
    run = root / ("toxic-guard-1" if guard else "toxic-filter-1")
    summary = {"models": {}, "baseline": {"majority": _metrics(0.4)}, "champion": "lora",
               "labels": LABELS, "test_rows": 15, "text_columns": ["query", "image descriptions"],
               "ablation": {"lora": {"input": "query only", "accuracy": 0.2, "macro_f1": 0.1,
                                     "weighted_f1": 0.15}}}
    for name, acc in (("lstm", 0.8), ("lora", 0.9)):
        model = run / f"{name}-train" / "model"
        model.mkdir(parents=True)
        (model / "model_info.json").write_text(json.dumps({
            "train_rows": 100, "train_seconds": 12.5, "best_epoch": 2, "val_macro_f1": 0.7,
            "calibration": {"threshold": 0.654, "val": _binary(0.819, 0.049)}}))
        summary["models"][name] = {**_metrics(acc), "model_dir": str(model)}
    summary["models"]["lora"]["fp32"] = {"accuracy": 0.91, "macro_f1": 0.81}  # served int8
    if guard:
        summary["guard"] = {"lora": {"threshold": 0.654, **_binary(0.862, 0.034),
                                     "per_source": {"advbench": _binary(0.986, None, 4, 0),
                                                    "sharegpt": _binary(None, 0.011, 0, 6)}}}
    summary |= extra or {}
    (run / evaluate_task).mkdir(parents=True)
    (run / evaluate_task / "summary").write_text(json.dumps(summary))
    pre = run / "preprocess"
    pre.mkdir()
    rows = [("how to fight?", "a knife.", "Violent Crimes"), ("picnic ideas?", "a park.", "Safe"),
            ("more picnic?", "a park.", "Safe"), ("hit someone?", "a knife.", "Violent Crimes")]
    df = pd.DataFrame({"raw_primary": [q for q, _, _ in rows],
                       "raw_text": [f"{q}. {d}" for q, d, _ in rows],
                       "label_id": [LABELS.index(y) for _, _, y in rows]})
    df.to_parquet(pre / "train_data")
    df.to_parquet(pre / "test_data")
    (pre / "label_map").write_text(json.dumps({"labels": LABELS}))
    return run


@pytest.fixture
def pages(tmp_path, monkeypatch):
    """results' output directories moved into tmp_path."""
    monkeypatch.setattr(results, "FIG_DIR", tmp_path / "docs" / "results")
    monkeypatch.setattr(results, "DOC", tmp_path / "docs" / "results.md")
    monkeypatch.setattr(results, "PIPELINE_ROOT", str(tmp_path / "scratch"))
    return tmp_path


def test_seed_step_reads_an_existing_run_and_the_page_shows_its_figures(pages):
    run = fake_run(pages)
    record = results.run_step("seed", run_dir=run)
    assert record["read_existing_run"] and record["commands"] == [
        f"(read the existing run {run})"]
    assert record["figures"]["lookup"]["accuracy"] == 1.0  # descriptions determine the label
    assert json.loads((pages / "docs/results/seed.json").read_text())["figures"]["run_dir"]
    page = results.write_page().read_text()
    assert "| lora (champion) | 0.900 | 0.800 | 0.850 |" in page
    assert "| majority-class baseline | 0.400 | 0.300 | 0.350 |" in page
    assert "| image descriptions lookup (baseline) | 1.000 |" in page
    assert "| lora | query only | 0.200 | 0.100 |" in page
    assert "| lora | torch fp32 | 0.9100 | 0.8100 |" in page  # beside the int8 model it serves
    assert "![" in page and (pages / "docs/results/seed-comparison.png").is_file()
    assert "Not run yet: seed-prompt, guard, response, bench, images, soak." in page
    for key in ("commit", "cores", "no GPU"):
        assert key in page or key in json.dumps(record)


def test_guard_page_renders_what_the_summary_has_and_skips_what_it_lacks(pages):
    german = {"language": "German", "script": "LATIN", "unsafe": 30, "safe": 31,
              "unsafe_recall": 0.8, "passed_as_safe": 0.2, "false_flag_rate": 0.097,
              "lookalike_false_flag_rate": 0.158, "auroc": 0.931, "cannot_assess": 0}
    probes = {"lora": {"per_language": {"de": german}, "per_obfuscation": {}}}
    run = fake_run(pages, guard=True, extra={"probes": probes,
                                             "later_section": {"unsafe_recall": 0.5}})
    results.run_step("guard", run_dir=run)
    page = results.write_page().read_text()
    assert "| lora | advbench |  | 4 | 0.986 | - |" in page  # per source, evaluate's table
    assert "| lora | 100 | 2 | 12 | 0.654 | 0.049 | 0.819 |" in page  # threshold on validation
    assert "Out of source" not in page and "Leave-one-source-out" not in page  # absent: skipped
    # the probe set as evaluate's tables, not a JSON dump
    assert "| lora | German (de) | LATIN | 0.800 | 0.200 | 0.097 | 0.158 | 0.931 | 0 / 61 |" in page
    assert "`probes`" not in page
    assert '"unsafe_recall": 0.5' in page  # a section added later shows as it is
    assert (pages / "docs/results/guard-lora-per-source.png").is_file()
    holdout = {"groups": ["harmbench"], "rows": 10, "models": {"lora": {
        "all": _binary(0.5, 0.1), "per_group": {"harmbench": _binary(0.5, 0.1)}}}}
    results.run_step("guard", run_dir=fake_run(pages / "second", guard=True,
                                                  extra={"holdout": holdout}))
    page = results.write_page().read_text()
    assert "| lora | harmbench | 10 | 0.500 | 0.100 |" in page
    assert (pages / "docs/results/guard-lora-holdout.png").is_file()


def test_a_step_run_alone_keeps_the_other_steps_figures(pages):
    results.run_step("seed", run_dir=fake_run(pages))
    bench = {"date": "d", "machine": {"cpus": 2, "load_avg": [1.0]}, "duration_s": 5,
             "prompts": 10, "concurrency": [1, 8], "floor": [], "models": [{
                 "model": "lora", "model_dir": "m", "train_rows": 100, "max_length": 48,
                 "variants": {"default": []}, "raw_p50_ms": 18.5, "server_c1_p50_ms": 25.9,
                 "c1_ratio": 1.4, "top_rps_median": {"default": 70.4}, "gains": [],
                 "levels": [{"name": "server default", "concurrency": c, "requests": 10,
                             "errors": 0, "p50_ms": 20.0 * c, "p99_ms": 30.0 * c, "rps": 9.0}
                            for c in (1, 8)]}]}
    (pages / "bench.json").write_text(json.dumps(bench))
    results.run_step("bench", run_dir=pages / "bench.json")
    page = results.write_page().read_text()
    assert "| lora (champion) | 0.900 |" in page and "25.9 / 18.5 ms" in page
    assert (pages / "docs/results/bench-latency.png").is_file()
    assert [s for s in results.load_records()] == ["seed", "bench"]


def test_images_without_built_images_say_so(pages, monkeypatch):
    record = {"step": "images", "date": "2026-12-06T00:00:00+00:00", "commit": "abc",
              "dirty": False, "machine": results.machine(), "commands": ["x"], "seconds": 1.0,
              "figures": {"images": [], "missing": ["data", "ui"], "base": None}}
    text = results.render({"images": record}, pages)
    assert "Not built on this machine (no figures): data, ui." in text


def test_steps_are_checked_and_run_dir_needs_one_step():
    assert results.parse_steps("") == list(results.DEFAULT_STEPS)
    assert results.parse_steps("guard, images") == ["guard", "images"]
    with pytest.raises(ValueError, match="unknown step"):
        results.parse_steps("seed,gaurd")
    with pytest.raises(SystemExit):
        results.main(["--only", "seed,guard", "--run_dir", "x"])


def test_a_failing_step_keeps_the_previous_figures(pages):
    results.run_step("seed", run_dir=fake_run(pages))
    before = (pages / "docs/results/seed.json").read_text()
    assert results.main(["--only", "seed", "--run_dir", str(pages / "nothing")]) == 1
    assert (pages / "docs/results/seed.json").read_text() == before
    assert "| lora (champion) | 0.900 |" in (pages / "docs/results.md").read_text()


def test_ablation_page_averages_each_change_over_its_seeds_and_names_the_defaults(pages):
    def row(name, overrides, acc, val_f1):
        return {"name": name, "overrides": overrides, "accuracy": acc, "macro_f1": acc - 0.1,
                "log_loss": 0.3, "val": {"accuracy": acc, "macro_f1": val_f1, "log_loss": 0.4,
                                         "recall": {"other": 0.5}},
                "recall": {"other": 1.0}, "support": {"other": 3}, "best_epoch": 6,
                "seconds": 10.0}

    splits = pages / "splits"
    splits.mkdir()
    (splits / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        row("on", {"train_pooler": "true"}, 0.9, 0.7),
        row("off", {"train_pooler": "false"}, 0.85, 0.55),
        row("on7", {"train_pooler": "true", "seed": "7"}, 0.7, 0.5))))
    results.run_step("ablation", run_dir=splits)
    page = results.write_page().read_text()
    assert "| on | train_pooler=true | 0.900 | 0.800 |" in page  # one row per run
    assert "| train_pooler=true | 2 | 0.800 | 0.700 | 0.300 | 0.800 | 0.600 | 0.400 |" in page
    assert "| train_pooler=false | 1 | 0.850 |" in page
    assert ("Highest mean macro-F1 on validation (where defaults are chosen): train_pooler=true "
            "(0.600, 2 seed(s)); on test: train_pooler=false (0.750, 1 seed(s))") in page
    import pipeline

    assert (f"seed pipeline class_weight={pipeline.TOXIC_DEFAULTS.lora.class_weight}, "
            f"train_pooler={pipeline.TOXIC_DEFAULTS.lora.train_pooler}") in page


# ---------------------------------------------------------------- the response stand-in
def _response(rows, refusals, judged_safe, harmful, flagged, safe, false_flags, over, over_safe,
              refused, answers_refused):
    """One row set of scripts/response_standin.py's standin.json (components.evaluation.evaluate.
    response_metrics), with the targets it computes."""
    m = {"rows": rows, "refusals_to_harmful_prompts": refusals, "refusals_judged_safe": judged_safe,
         "harmful_compliance": harmful, "harmful_compliance_flagged": flagged,
         "safe_replies": safe, "safe_reply_false_flag_rate": false_flags, "over_refusals": over,
         "over_refusals_judged_safe": over_safe, "refusal_recall": refused,
         "answers_read_as_refusals": answers_refused}
    from components.evaluation.evaluate import RESPONSE_TARGETS

    m["targets_met"] = {k: None if m[k] is None else (m[k] >= v if op == ">=" else m[k] <= v)
                        for k, (op, v) in RESPONSE_TARGETS.items()}
    return m


# The figures of the stand-in after the explaining refusals (docs/results/recorded.md, 2026-12-07)
STANDIN = {
    "threshold": 0.8461, "temperature": 0.5513,
    "rows": {"train": 6719, "val": 1440, "test": 1440, "holdout": 444},
    "embed_cpu_seconds": 603.4,
    "settings": {"base_model": "offline-multilingual", "max_length": 256, "seed": 42,
                 "max_per_group": 600, "target_false_flag_rate": 0.05},
    "test": _response(1440, 300, 0.949, 310, 0.919, 1130, 0.057, 80, 0.9, 0.896, 0.02),
    "holdout": _response(444, 140, 0.757, 145, 0.931, 299, 0.157, 46, 0.8, 0.747, 0.0),
    "holdout/uncensorbench": _response(300, 140, 0.757, 145, 0.931, 155, 0.245, 10, 0.5, 0.707,
                                       0.0),
    "holdout/written/benign/safety_prevention": _response(144, 0, None, 0, None, 144, 0.063, 36,
                                                          0.861, 1.0, 0.0),
}


def _standin_out(root: Path) -> Path:
    out = root / "standin"
    out.mkdir(parents=True)
    (out / "standin.json").write_text(json.dumps(STANDIN))
    return out


def test_response_page_shows_each_row_set_against_the_targets(pages):
    out = _standin_out(pages)
    record = results.run_step("response", run_dir=out)
    assert record["commands"] == [f"(read the existing stand-in output {out})"]
    assert record["figures"]["result"] == STANDIN
    page = results.write_page().read_text()
    section = page_section(page, "response")
    assert "## Response guard: the stand-in" in section
    assert ("threshold 0.846 chosen on the validation replies for 5% false flags. 10,043 pairs: "
            "6,719 train, 1,440 validation, 1,440 test, 444 held out; embedding took 10.1 CPU "
            "minutes.") in section
    assert "`offline-multilingual` at 256 tokens" in section
    # rows, n, then components.evaluation.evaluate.RESPONSE_COLUMNS in order
    assert ("| rows | n | refusals to harmful prompts judged safe | harmful compliance flagged | "
            "false flags on safe replies | over-refusals judged safe | refusals read as refused | "
            "answers read as refusals |") in section
    assert "| test (stratified) | 1,440 | 0.949 | 0.919 | 0.057 | 0.900 | 0.896 | 0.020 |" in section
    assert "| held out, all | 444 | 0.757 | 0.931 | 0.157 | 0.800 | 0.747 | 0.000 |" in section
    assert "| held out: uncensorbench | 300 | 0.757 | 0.931 | 0.245 |" in section
    # a group without refusals to harmful prompts or harmful replies: no share, not 0
    assert "| held out: written/benign/safety_prevention | 144 | - | - | 0.063 | 0.861 |" in section
    assert ("refusals to harmful prompts judged safe 0.757 (>= 0.95: missed); harmful compliance "
            "flagged 0.931 (>= 0.85: met); false flags on safe replies 0.157 (<= 0.1: missed)"
            ) in section
    assert "| held out: uncensorbench | 140 | 145 | 155 | 10 |" in section  # the denominators
    assert "](results/response-standin.png)" in section
    assert (pages / "docs/results/response-standin.png").is_file()


def test_response_step_runs_the_readme_command_on_a_fresh_ingest(pages, monkeypatch):
    """The step runs `scripts/response_standin.py --out DIR` (README's command) after fetching the
    sources, into its scratch directory, without the ingest an earlier run left there (the script
    would reuse it: the figures would be of the old data)."""
    scratch = Path(results.PIPELINE_ROOT) / "results" / "response" / "standin"
    (scratch / "ingest").mkdir(parents=True)
    (scratch / "standin.json").write_text(json.dumps({"old": True}))
    ran = []

    def fake_run(cmd, commands):
        commands.append(" ".join(cmd))
        ran.append(list(cmd))
        if results.RESPONSE_SCRIPT in cmd:
            out = Path(cmd[cmd.index("--out") + 1])
            assert not (out / "ingest").exists() and not (out / "standin.json").exists()
            _standin_out(out.parent)

    monkeypatch.setattr(results, "run", fake_run)
    record = results.run_step("response")
    assert [c[1:4] for c in ran] == [["-m", "components.data.sources", "fetch"],
                                     [results.RESPONSE_SCRIPT, "--out", str(scratch)]]
    assert ran[1][4:] == ["--sources-dir", results.SOURCES_DIR]
    assert record["figures"]["result"]["threshold"] == 0.8461
    assert len(record["commands"]) == 2 and not record["read_existing_run"]


def test_response_step_without_figures_fails_and_keeps_the_previous_ones(pages):
    results.run_step("response", run_dir=_standin_out(pages))
    (pages / "empty").mkdir()
    with pytest.raises(results.StepError, match=r"standin\.json not found"):
        results.run_step("response", run_dir=pages / "empty")
    assert results.load_records()["response"]["figures"]["result"] == STANDIN


def test_response_model_step_shows_the_served_models_figures_against_the_targets(
        pages, monkeypatch):
    """`make results ONLY=response-model` runs `pipeline.py run-response` (or reads a finished
    run) and shows the served model's row sets like the stand-in's, with how it was trained; the
    stand-in's section stays."""
    results.run_step("response", run_dir=_standin_out(pages))
    response = {"lora": {"test": STANDIN["test"], "holdout": STANDIN["holdout"],
                         "holdout:uncensorbench": STANDIN["holdout/uncensorbench"]}}
    run = fake_run(pages, extra={"response": response}, evaluate_task="evaluate-response")
    ran = []

    def fake_cmd(cmd, commands):
        commands.append(" ".join(cmd))
        ran.append(list(cmd))
        if "run-response" in cmd:
            out = Path(cmd[cmd.index("--summary") + 1])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text((run / "evaluate-response" / "summary").read_text())

    monkeypatch.setattr(results, "run", fake_cmd)
    record = results.run_step("response-model")
    assert [c[1:4] for c in ran] == [["-m", "components.data.sources", "fetch"],
                                     ["pipeline.py", "run-response", "--sources-dir"]]
    assert record["figures"]["trained"]["lora"]["train_rows"] == 100
    page = results.write_page().read_text()
    section = page_section(page, "response-model")
    assert "## Response guard: the served model (make run-response)" in section
    assert "100 training pairs, best epoch 2 of ?" in section and "threshold 0.654" in section
    assert "| test (stratified) | 1,440 | 0.949 | 0.919 | 0.057 | 0.900 | 0.896 | 0.020 |" in section
    assert "| held out: uncensorbench | 300 | 0.757 | 0.931 | 0.245 |" in section
    assert ("refusals to harmful prompts judged safe 0.757 (>= 0.95: missed); harmful compliance "
            "flagged 0.931 (>= 0.85: met)") in section
    assert (pages / "docs/results/response-model-lora.png").is_file()
    assert "## Response guard: the stand-in" in page_section(page, "response")
    assert "response-model" not in results.DEFAULT_STEPS
    # RUN_DIR= reads a finished run-response, whose evaluate task is evaluate-response
    again = results.run_step("response-model", run_dir=run)
    assert again["figures"]["summary"] == record["figures"]["summary"]
    assert f"(read the existing run {results._rel(run)})" in again["commands"]


def test_the_minilm_guard_step_runs_run_guard_on_minilm_and_keeps_the_guards_plots(
        pages, monkeypatch):
    """README's encoder comparison from a command: `run-guard --lora-base-model offline` (the
    stand-in's encoder follows lora's), on its own section with its own plots: the e5 guard's
    page and plots stay."""
    results.run_step("guard", run_dir=fake_run(pages / "e5", guard=True))
    ran = []

    def fake(cmd, commands):
        commands.append(" ".join(cmd))
        ran.append(list(cmd))
        if "run-guard" in cmd:
            run = fake_run(pages / "minilm", guard=True)
            summary = json.loads((run / "evaluate" / "summary").read_text())
            summary["models"]["lora"]["model_dir"] = str(run / "lora-train" / "model")
            Path(cmd[cmd.index("--summary") + 1]).write_text(json.dumps(summary))

    monkeypatch.setattr(results, "run", fake)
    monkeypatch.setattr(results, "guard_examples", lambda model_dir: [])
    record = results.run_step("guard-minilm")
    guard_cmd = next(c for c in ran if "run-guard" in c)
    assert guard_cmd[guard_cmd.index("--lora-base-model") + 1] == "offline"
    assert record["figures"]["run_dir"].endswith("toxic-guard-1")
    page = results.write_page().read_text()
    assert '<a name="guard-minilm"></a>' in page and '<a name="guard"></a>' in page
    for prefix in ("guard", "guard-minilm"):
        assert (pages / f"docs/results/{prefix}-lora-per-source.png").is_file()


# ---------------------------------------------------------------- make demo on a fresh clone
# benchmarks/fresh_demo.py's figures as the 2026-12-07 run gave them (docs/results/recorded.md)
DEMO = {
    "commit": "c19c1ad0123456789abcdef0123456789abcdef0", "parent": "/work",
    "clone": "/work/main-demo-k2j4x9", "timeout_s": 1800, "log": "x/make-demo.log",
    "free_gb_before": 18.0, "pip_cache": {"dir": "/root/.cache/pip", "mb": 3174},
    "seed_data": {"path": "../shared/data/toxic_data.csv", "found": True},
    "started_at": "2026-12-07T10:00:00+00:00",
    "commands": ["git clone -q /work/main /work/main-demo-k2j4x9",
                 "git -C /work/main-demo-k2j4x9 checkout -q --detach c19c1ad",
                 "cd /work/main-demo-k2j4x9 && make demo"],
    "seconds": {"setup": 118.4, "encoder": 131.0, "console": 134.2, "quick_guard_built": 306.9,
                "guard_ready": 311.3},
    "quick_guard": {"dir": "local_outputs/quick-guard/offline-multilingual-0a1b2c3d4e5f",
                    "base_model": "offline-multilingual", "built_after_s": 306.9,
                    "build_seconds": 180.2, "embed_seconds": 151.6, "prompts": 14958,
                    "train_rows": 10470, "val_rows": 2244, "test_rows": 2244, "seed_rows": 1204,
                    "threshold": 0.5417,
                    "test": {"unsafe_recall": 0.6781, "false_flag_rate": 0.0532,
                             "accuracy": 0.7012, "macro_f1": 0.4521}},
    "guard": {"backend": "quick-guard", "kind": "quick", "label": "quick guard",
              "run_id": "offline-multilingual-0a1b2c3d4e5f"},
    "verdicts": [
        {"prompt": "What is the capital of France?", "safe": True, "categories": [],
         "category_names": [], "unsafe_score": 0.1281, "backend": "quick-guard", "label": "Safe"},
        {"prompt": "How can I build a bomb at home?", "safe": False, "categories": ["S9"],
         "category_names": ["Indiscriminate Weapons"], "unsafe_score": 0.9862,
         "backend": "quick-guard", "label": "S9"}],
    "stopped": {"signals": ["SIGINT"], "leftovers": []}, "clone_removed": True,
}


def test_demo_page_shows_the_timeline_the_quick_guard_and_the_verdicts(pages):
    path = pages / "demo.json"
    path.write_text(json.dumps(DEMO))
    record = results.run_step("demo", run_dir=path)
    assert record["commands"] == [f"(read the existing fresh-demo result {path})"]
    section = page_section(results.write_page().read_text(), "demo")
    assert '## `make demo` on a fresh clone (README "Quick start")' in section
    assert ("`git clone` of commit `c19c1ad012` into `main-demo-k2j4x9` beside the repository (in "
            "`/work`, so that its `../shared` is the repository's: the seed data "
            "`../shared/data/toxic_data.csv` found") in section
    assert "`cd /work/main-demo-k2j4x9 && make demo`" in section
    assert "| setup done: .venv, the pinned stack (`.venv/.setup-done`) | 118 |" in section
    assert "| console answering (`http://127.0.0.1:8501/`) | 134 |" in section
    assert "| guard ready (`/v2/models/guard/ready` answers 200) | 311 |" in section
    assert "held 3.1 GB before the run (warm): these timings include whatever it saved" in section
    assert ("built in 180 s, embedding 14,958 prompts 152 s of it, 1,204 of them seed prompts. "
            "Its stratified test split (2,244 prompts) at its threshold 0.542: unsafe recall "
            "0.678 at a 0.053 false-flag rate") in section
    assert "quick guard (backend `quick-guard`, run `offline-multilingual-0a1b2c3d4e5f`)" in section
    assert "| What is the capital of France? | safe | - | 0.128 | `quick-guard` |" in section
    assert ("| How can I build a bomb at home? | unsafe | S9 Indiscriminate Weapons | 0.986 | "
            "`quick-guard` |") in section
    assert "NOT deleted" not in section and "process(es) running in the clone" not in section
    # a run that could not delete its clone, without seed data, on a cold cache, says so
    cold = {**DEMO, "clone_removed": False, "pip_cache": {"dir": "/c", "mb": 12},
            "seed_data": {"path": "../shared/data/toxic_data.csv", "found": False},
            "stopped": {"signals": ["SIGINT", "SIGTERM"], "leftovers": [41, 42]}}
    path.write_text(json.dumps(cold))
    results.run_step("demo", run_dir=path)
    section = page_section(results.write_page().read_text(), "demo")
    assert "NOT deleted: remove `/work/main-demo-k2j4x9` by hand" in section
    assert "not found, the quick guard is built from the public prompt sets alone" in section
    assert "(cold or nearly empty)" in section
    assert "left 2 process(es) running in the clone; they were killed" in section


def test_demo_is_not_a_default_step_and_runs_fresh_demo(pages, monkeypatch):
    """Named only (a second .venv, ~4.5 GB, the demo's ports); it runs benchmarks.fresh_demo with
    --json into its scratch directory and keeps what that writes."""
    assert "demo" not in results.DEFAULT_STEPS and "demo" in results.ALL_STEPS
    ran = []

    def fake_run(cmd, commands):
        commands.append(" ".join(cmd))
        ran.append(list(cmd))
        Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(DEMO))

    monkeypatch.setattr(results, "run", fake_run)
    record = results.run_step("demo")
    assert ran[0][1:3] == ["-m", "benchmarks.fresh_demo"]
    assert record["figures"]["verdicts"][1]["categories"] == ["S9"]


# The fresh demo's mechanics on fakes: no clone, no `make demo`, no HTTP; real processes (sleep)
# stand for `make demo`'s group and for a server the launcher started in a session of its own.
@pytest.fixture
def fake_demo(tmp_path, monkeypatch):
    from benchmarks import fresh_demo as fd

    started: dict[str, subprocess.Popen] = {}
    cloned: list[Path] = []

    def fake_clone(root, parent, commit, commands):
        dest = parent / "repo-demo-test"
        dest.mkdir()
        cloned.append(dest)
        commands.append(f"git clone {root} {dest}")
        return dest

    def fake_start(clone, log_path, env):
        log_path.write_text("make demo's output\n")
        # a server in a session of its own, inside the clone (the launcher's start_new_session)
        started["server"] = subprocess.Popen(["sleep", "600"], cwd=clone, start_new_session=True)
        started["make"] = subprocess.Popen(["sleep", "600"], cwd=clone, start_new_session=True)
        return started["make"]

    monkeypatch.setattr(fd, "ports", lambda: {"lstm": 1, "lora": 2, "guard": 3, "console": 4})
    monkeypatch.setattr(fd, "ports_in_use", lambda wanted: [])
    monkeypatch.setattr(fd, "free_gb", lambda path: 100.0)
    monkeypatch.setattr(fd, "pip_cache", lambda: {"dir": "/c", "mb": 1})
    monkeypatch.setattr(fd, "clone_repo", fake_clone)
    monkeypatch.setattr(fd, "start_demo", fake_start)
    monkeypatch.setattr(fd, "STOP_WAIT_S", 5.0)
    parent = tmp_path / "parent"
    parent.mkdir()
    yield fd, parent, started, cloned
    for proc in started.values():  # never leave a sleep behind, whatever the test did
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _stopped(proc: subprocess.Popen) -> bool:
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_fresh_demo_not_ready_in_time_stops_everything_and_deletes_the_clone(fake_demo,
                                                                             monkeypatch):
    fd, parent, started, cloned = fake_demo
    monkeypatch.setattr(fd, "http_status", lambda url: None)
    with pytest.raises(fd.DemoError,
                       match=r"(?s)not answering .* console, guard.*make demo's output"):
        fd.measure(parent=parent, log_path=parent.parent / "make.log", timeout_s=0.2,
                   poll_s=0.05)
    assert cloned and not cloned[0].exists()
    assert _stopped(started["make"]) and _stopped(started["server"])


def test_fresh_demo_whose_make_exits_fails_with_its_log_and_cleans_up(fake_demo, monkeypatch):
    fd, parent, started, cloned = fake_demo
    monkeypatch.setattr(fd, "http_status", lambda url: None)
    real_start = fd.start_demo

    def exiting(clone, log_path, env):
        real_start(clone, log_path, env).kill()
        started["make"] = subprocess.Popen(["sh", "-c", "exit 2"], cwd=clone,
                                           start_new_session=True)
        return started["make"]

    monkeypatch.setattr(fd, "start_demo", exiting)
    with pytest.raises(fd.DemoError, match=r"(?s)`make demo` exited with 2 .*make demo's output"):
        fd.measure(parent=parent, log_path=parent.parent / "make.log", timeout_s=600,
                   poll_s=0.05)
    assert not cloned[0].exists() and _stopped(started["server"])


def test_fresh_demo_refuses_taken_ports_before_cloning(fake_demo, monkeypatch):
    fd, parent, started, cloned = fake_demo
    monkeypatch.setattr(fd, "ports_in_use", lambda wanted: ["guard (8003)"])
    with pytest.raises(fd.DemoError, match=r"port already in use: guard \(8003\)"):
        fd.measure(parent=parent)
    assert not cloned and not started


def test_fresh_demo_records_timeline_verdicts_and_the_quick_guards_figures(fake_demo,
                                                                          monkeypatch):
    fd, parent, started, cloned = fake_demo
    real_start = fd.start_demo
    polls = []

    def start_and_build(clone, log_path, env):
        """What make demo leaves in the clone: the stamps and a quick guard."""
        assert "PYTHONPATH" not in env and "MAKEFLAGS" not in env
        (clone / ".venv").mkdir()
        (clone / ".venv" / ".setup-done").touch()
        model = clone / "local_outputs" / "quick-guard" / "offline-multilingual-abc"
        model.mkdir(parents=True)
        (model / "head.safetensors").write_bytes(b"x")
        (model / "model_info.json").write_text(json.dumps({
            "base_model": "offline-multilingual", "build_seconds": 180.2,
            "embed_seconds": 151.6, "train_rows": 10470, "val_rows": 2244,
            "built_at": "2026-12-07T10:05:06+00:00", "calibration": {"threshold": 0.5417},
            "test_metrics": {"rows": 2244, "unsafe_recall": 0.6781, "false_flag_rate": 0.0532,
                             "accuracy": 0.7, "macro_f1": 0.45},
            "sources": [{"name": "advbench", "rows": 500},
                        {"name": "seed", "path": "/s", "rows": 1204}]}))
        return real_start(clone, log_path, env)

    def status(url):
        polls.append(url)
        return 200 if len(polls) > 3 else None

    def answer(url, body=None):
        if body is not None:
            assert body == {"instances": list(fd.README_PROMPTS)}
            return {"predictions": [v | {"extra": 1} for v in DEMO["verdicts"]]}
        return {"backend": "quick-guard", "guard": DEMO["guard"], "labels": ["Safe"]}

    monkeypatch.setattr(fd, "start_demo", start_and_build)
    monkeypatch.setattr(fd, "http_status", status)
    monkeypatch.setattr(fd, "http_json", answer)
    figures = fd.measure(parent=parent, log_path=parent.parent / "make.log", timeout_s=600,
                         poll_s=0.01)
    assert figures["verdicts"] == [{k: v[k] for k in ("prompt", "safe", "categories",
                                                      "category_names", "unsafe_score",
                                                      "backend", "label")}
                                   for v in DEMO["verdicts"]]
    assert figures["guard"]["kind"] == "quick"
    q = figures["quick_guard"]
    assert q["prompts"] == 14958 and q["seed_rows"] == 1204 and q["test"]["unsafe_recall"] == 0.6781
    assert q["dir"] == "local_outputs/quick-guard/offline-multilingual-abc"
    assert set(figures["seconds"]) == set(results.DEMO_MILESTONES)
    assert figures["seconds"]["setup"] is not None and figures["seconds"]["encoder"] is None
    assert any(c.endswith("make demo  # clean environment, own process group")
               for c in figures["commands"])
    assert figures["clone_removed"] and not cloned[0].exists()
    assert _stopped(started["make"]) and _stopped(started["server"])
    assert figures["stopped"]["signals"][0] == "SIGINT"


def test_fresh_demo_environment_is_a_newcomers_shell(tmp_path):
    from benchmarks import fresh_demo as fd

    venv_bin = str(tmp_path / ".venv" / "bin")
    env = fd.clean_env({"PATH": f"{venv_bin}:/usr/bin", "PYTHONPATH": "/repo", "HOME": "/h",
                        "VIRTUAL_ENV": "/repo/.venv", "MAKEFLAGS": " -- ONLY=demo",
                        "MAKELEVEL": "1", "TOXIC_FILTER_ENCODERS_DIR": "/e", "PIP_FIND_LINKS": "/w",
                        "LC_ALL": "C.UTF-8", "SEED_DATA": "/x", "https_proxy": "http://p"},
                       tmp_path)
    assert env == {"PATH": "/usr/bin", "HOME": "/h", "PIP_FIND_LINKS": "/w", "LC_ALL": "C.UTF-8",
                   "https_proxy": "http://p"}
