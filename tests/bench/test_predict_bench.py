"""bench/predict.py runs end to end on a small catalogue and prints both paths per user."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from recommender.engine import _search, predictor

BENCH = Path(__file__).resolve().parents[2] / "bench" / "predict.py"


def test_the_bench_prints_both_paths_and_the_floor_per_user(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_predict", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "N_MOVIES", 3_000)
    monkeypatch.setattr(module, "USERS", {"p50": 25, "p99": 60})
    share = _search.IN_PLACE_MIN_SHARE
    assert module.main(["--repeats", "1"]) == 0
    assert share == _search.IN_PLACE_MIN_SHARE  # put back after the other paths' runs
    assert predictor.compiled_sums
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.startswith(("p50", "p99"))]
    assert len(rows) == 4  # each user on the engine's threads and on one
    for row in rows:
        engine, gathered, numpy_sums, floor, *ratios = (float(v) for v in row[3:10])
        assert min(engine, gathered, numpy_sums, floor) > 0
        for other, ratio in zip((gathered, numpy_sums, floor), ratios, strict=True):
            # The times are printed to 0.05 ms, the ratios to 0.005.
            low, high = (engine - 0.05) / (other + 0.05), (engine + 0.05) / (other - 0.05)
            assert low - 0.005 <= ratio <= high + 0.005
