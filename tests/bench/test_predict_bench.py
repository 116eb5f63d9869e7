"""bench/predict.py runs end to end on a small catalogue and prints both paths per user."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from recommender.engine import _search

BENCH = Path(__file__).resolve().parents[2] / "bench" / "predict.py"


def test_the_bench_prints_both_paths_and_the_floors_per_user(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_predict", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "N_MOVIES", 3_000)
    # One user below FLOAT32_MIN_SAMPLES (float64 keys on both paths), one above it.
    monkeypatch.setattr(module, "USERS", {"p50": 25, "p99": _search.FLOAT32_MIN_SAMPLES + 44})
    min_samples = _search.FLOAT32_MIN_SAMPLES
    assert module.main(["--repeats", "1"]) == 0
    assert min_samples == _search.FLOAT32_MIN_SAMPLES  # put back after the other path's runs
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.startswith(("p50", "p99"))]
    assert len(rows) == 4  # each user on the engine's threads and on one
    for row in rows:
        engine, f64_keys, floor = (float(v) for v in row[3:6])
        precision = row[6]
        f64_floor, *ratios, diff = (float(v) for v in row[7:])
        assert precision == ("float64" if row[0] == "p50" else "float32")
        assert min(engine, f64_keys, floor, f64_floor) > 0
        for other, ratio in zip((f64_keys, floor, f64_floor), ratios, strict=True):
            # The times are printed to 0.05 ms, the ratios to 0.005.
            low, high = (engine - 0.05) / (other + 0.05), (engine + 0.05) / (other - 0.05)
            assert low - 0.005 <= ratio <= high + 0.005
        assert diff < 1e-9  # float32 keys give the float64 keys' predictions
