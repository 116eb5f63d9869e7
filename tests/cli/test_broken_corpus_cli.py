"""`recommender import catalogue|movielens` on every file of the broken corpus: exit status 1,
the file, line and reason on stderr, nothing written (SQLite: the service tests cover both)."""

from __future__ import annotations

import pytest

from tests.broken_corpus import CASES, by_id, failed_runs, snapshot
from tests.factories import make_movie

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize("case", **by_id(CASES))
def test_the_command_exits_1_saying_which_file_line_and_why(app, runner, tmp_path, case):
    make_movie("Heat", 1995, ("Crime",))
    before, failed = snapshot(), failed_runs()
    path = case.build(tmp_path)

    result = runner.invoke(args=["import", case.kind, str(path)])

    assert result.exit_code == 1, result.output
    assert f"Error: {path.name} was refused: " in result.stderr
    for fragment in case.expected:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert snapshot() == before
    assert failed_runs() == failed + 1
