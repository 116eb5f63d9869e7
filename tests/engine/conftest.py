"""Engine fixtures: the selection's compiled path and its numpy reference, one after the other."""

from __future__ import annotations

import pytest

from recommender.engine import _search


@pytest.fixture(params=["compiled", "numpy"])
def selection_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once on each selection path (``_search.use_compiled``)."""
    if request.param == "compiled":
        assert _search.compiled_select is not None, "the C kernel is not built (setup.py)"
    monkeypatch.setattr(_search, "use_compiled", request.param == "compiled")
    return request.param
