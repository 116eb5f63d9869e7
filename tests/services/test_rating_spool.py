"""The spool a staged import keeps its new ratings in gives back what it was given."""

from __future__ import annotations

import datetime as dt

from recommender.importers.movielens.spool import RatingSpool, decoded


def test_rows_come_back_in_order_with_their_times_whatever_their_kind():
    fractional = dt.datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=dt.UTC)
    rows = [(-1, 5, 4.5, 880000000), (-2, -3, 1.0, fractional), (7, 8, 3.0, None)]
    spool = RatingSpool()
    spool.append(rows[:1])
    spool.append(rows[1:])
    assert len(spool) == 3
    whole, other = decoded(spool.read(0, 10))
    assert whole == [rows[0]]
    assert other == rows[1:]
    assert decoded(spool.read(1, 1)) == ([], [rows[1]])
    assert len(spool.read(3, 5)) == 0
    spool.close()
    assert len(spool) == 0 and len(spool.read(0, 5)) == 0


def test_a_spool_of_whole_seconds_only_decodes_them_as_ints():
    spool = RatingSpool()
    spool.append([(1, 2, 5.0, 0), (1, 3, 0.5, 2**40)])
    assert decoded(spool.read(0, 2)) == ([(1, 2, 5.0, 0), (1, 3, 0.5, 2**40)], [])
    spool.close()
