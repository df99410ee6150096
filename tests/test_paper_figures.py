"""The paper's further figures and tables (issue 18): the numbers behind them, on small cases."""

from __future__ import annotations

import pytest

from scbench.aggregate import metrics_table
from scbench.training_time import is_deep, to_markdown, training_time_table

METHODS = {"attentionae_sc": {"display_name": "AttentionAE-sc"},
           "scvi": {"display_name": "scvi-tools"}, "leiden": {"display_name": "Leiden"}}


def run(dataset, method, seed, runtime, status="ok", device="cpu", threads=2):
    return {"dataset": dataset, "method": method, "seed": seed, "status": status,
            "runtime_s": runtime if status == "ok" else None, "device": device,
            "threads": threads}


def test_deep_methods_from_the_registry():
    assert is_deep("attentionae_sc") and is_deep("scvi") and is_deep("desc")
    assert not is_deep("leiden") and not is_deep("kmeans") and not is_deep("unknown")


def test_training_time_table():
    records = [run("a", "attentionae_sc", s, t) for s, t in enumerate([10.0, 20.0, 30.0])]
    records += [run("a", "scvi", 0, 5.0, device="cuda", threads=1),
                run("a", "scvi", 1, None, status="failed"),
                run("b", "attentionae_sc", 0, 7.0), run("a", "leiden", 0, 1.0)]
    table = training_time_table(metrics_table(records), METHODS)
    assert list(zip(table["dataset"], table["method"])) == [
        ("a", "attentionae_sc"), ("b", "attentionae_sc"), ("a", "scvi")]  # no Leiden
    first = table.iloc[0]
    assert first["mean_s"] == pytest.approx(20.0) and first["sd_s"] == pytest.approx(10.0)
    assert (first["n_ok"], first["device"], first["threads"]) == (3, "cpu", "2")
    scvi = table.iloc[2]
    assert scvi["mean_s"] == 5.0 and scvi["status"] == "1/2 ok" and scvi["device"] == "cuda"
    text = to_markdown(table, METHODS)
    assert "| AttentionAE-sc (cpu, 2 thr.) | scvi-tools (cuda, 1 thr.) |" in text
    assert "| a | 20.0 ± 10.0 | 5.0 (1/2 ok) |" in text
    assert "| b | 7.0 | – |" in text


def test_training_time_without_deep_methods():
    table = training_time_table(metrics_table([run("a", "leiden", 0, 1.0)]), METHODS)
    assert table.empty and "No deep method" in to_markdown(table, METHODS)
