"""benchmarks.bench_engines: torch fp32 against ONNX int8 on one lora directory, in process."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmarks import bench_engines, bench_serve


def test_the_engines_block_of_the_doc_is_replaced_and_leaves_the_rest_alone(tmp_path):
    doc = tmp_path / "serving.md"
    doc.write_text("# Serving\n\nkept\n")
    for body in ("engines 1\n", "engines 2\n"):
        bench_engines.update_doc(doc, body, bench_engines.DOC_START, bench_engines.DOC_END,
                                 "Benchmarks (engines, in process)")
    text = doc.read_text()
    assert "engines 2" in text and "engines 1" not in text and "kept" in text
    assert text.count(bench_engines.DOC_START) == 1


def test_a_split_option_must_name_an_existing_file(tmp_path):
    with pytest.raises(ValueError, match="NAME=PARQUET"):
        bench_engines._splits(["test_data"])
    with pytest.raises(ValueError, match="NAME=PARQUET"):
        bench_engines._splits([f"test_data={tmp_path / 'none.parquet'}"])


def test_a_directory_without_its_export_is_refused_before_measuring(tiny_lora_dir, tmp_path):
    import shutil

    from components.core.model_info import MODEL_INFO

    bare = tmp_path / "bare"
    shutil.copytree(tiny_lora_dir, bare)
    (bare / "model.int8.onnx").unlink()
    info = json.loads((bare / MODEL_INFO).read_text())
    info.pop("engines")
    (bare / MODEL_INFO).write_text(json.dumps(info))
    with pytest.raises(ValueError, match="no ONNX export"):
        bench_engines.bench(bare, ["a text"])


def test_the_benchmark_compares_both_engines_on_every_split_row(tiny_lora_dir, tiny_splits,
                                                                tmp_path, monkeypatch):
    """One short run on the tiny model: both engines measured at both batch sizes, the ONNX
    process cold-started without torch, quality on every row of the splits, report written."""
    monkeypatch.setattr(bench_engines, "RESULTS_DIR", tmp_path / "results")
    splits = {name: tiny_splits.path(key) for name, key in
              (("train_data", "train"), ("val_data", "val"), ("test_data", "test"))}
    rows = sum(len(pd.read_parquet(p)) for p in splits.values())
    argv = [str(tiny_lora_dir), "--seconds", "0.05", "--rounds", "1", "--cold_starts", "1",
            "--data", str(bench_engines.ROOT / "data" / "sample_toxic_prompts.csv"), "--no_doc",
            *[f"--split={name}={path}" for name, path in splits.items()]]
    assert bench_engines.main(argv) == 0
    (written,) = (tmp_path / "results").glob("bench_engines-*.json")
    result = json.loads(written.read_text())
    assert set(result["engines"]) == {"torch", "onnx"}
    for m in result["engines"].values():
        for key in ("texts_per_cpu_s", "texts_per_wall_s"):
            assert set(m[key]) == {"1", "32"} and all(v > 0 for v in m[key].values())
        assert m["cold_start_cpu_s"] > 0 and len(m["cold_starts"]) == 1
    assert result["engines"]["onnx"]["imports_torch"] is False
    assert result["engines"]["torch"]["imports_torch"] is True
    assert result["engines"]["onnx"]["model_bytes"] < result["engines"]["torch"]["model_bytes"]
    q = result["quality"]
    assert q["rows"] == rows and 0.0 <= q["argmax_agreement"] <= 1.0
    assert "guard_flips" in q  # the sample's labels have a Safe class: a guard model
    assert set(q["engines"]["onnx"]) >= {"test_accuracy", "test_unsafe_recall", "threshold"}
    report = (tmp_path / "results" / written.name.replace(".json", ".md")).read_text()
    assert "| ratio, CPU time (wall) |" in report and str(tiny_lora_dir) in report


def test_bench_serve_judges_the_engine_ratios_against_the_issue_targets():
    """The servers' engines comparison: onnx / torch ratios, each marked met or missed."""
    def engine(p50, rps, cold, cpu):
        return {"p50_c1_ms": p50, "rps_top": rps, "cold_start_s": cold, "cold_starts_s": [cold],
                "cold_start_cpu_s": cold / 2, "server_cpu_ms": {"1": cpu, "32": cpu / 2},
                "rss_loaded_mb": 100.0, "rss_after_load_mb": 100.0}

    ratios = {"p50_c1": 0.3, "rps_top": 2.5, "cold_start": 0.1, "rss": 0.5,
              "server_cpu_c1": 0.2, "server_cpu_c32": 0.3, "cold_start_cpu": 0.1}
    targets = {"p50_c1": ratios["p50_c1"] <= bench_serve.TARGET_ENGINE_C1_P50,
               "rps_top": ratios["rps_top"] >= bench_serve.TARGET_ENGINE_RPS, "cold_start": True}
    result = {"duration_s": 5, "engines": [{
        "server": "lora", "levels": [], "ratios": ratios, "targets_met": targets,
        "engines": {"torch": engine(30.0, 40.0, 8.0, 20.0), "onnx": engine(9.0, 100.0, 0.8, 4.0)}}]}
    text = bench_serve.engines_markdown(result)
    assert "| lora | **0.3x** (met) | **2.5x** (missed) | 0.2x, 0.3x | 0.1x (0.1x) | 0.5x |" in text
    assert "| lora | onnx | 9.0 | 100.0 | 4.0 / 2.0 |" in text
