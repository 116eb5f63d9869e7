"""POST /api/v1/admin/imports (movielens): the report says what each matching rule did and
lists the possible duplicates; the stored run keeps both."""

from __future__ import annotations

import io
import zipfile

from tests.factories import make_movie

IMPORTS = "/api/v1/admin/imports"
MOVIES = (
    "movieId,title,genres\n"
    "1,Seven (Se7en) (1995),Thriller\n"
    "2,Kama Sutra: A Tale of Love (1996),Drama\n"
    "3,Star Wars (1977),Sci-Fi\n"
)
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,874965758\n1,2,3.0,874965759\n2,3,5,874965760\n"


def dataset_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ml-test/movies.csv", MOVIES)
        archive.writestr("ml-test/ratings.csv", RATINGS)
    return buffer.getvalue()


def test_the_report_and_the_run_say_how_movies_were_matched(client, admin):
    se7en = make_movie("Se7en", 1995).id
    kama = make_movie("Kama Sutra", 1997).id
    make_movie("Star Wars Ep. IV: A New Hope", 1977)

    response = client.post(
        IMPORTS,
        data={"kind": "movielens", "file": (io.BytesIO(dataset_zip()), "ml-test.zip")},
        headers=admin,
        content_type="multipart/form-data",
    )

    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["matched_by"] == {"exact": 0, "alternative_title": 1, "series": 1, "fuzzy": 0}
    (listed,) = report["possible_duplicates"]
    assert listed["duplicates"] == [{"id": kama, "title": "Kama Sutra", "year": 1997}]
    assert listed["movie_id"] not in (se7en, kama)
    run = client.get(response.headers["Location"], headers=admin).get_json()
    assert run["counts"]["movies_matched_alternative_title"] == 1
    assert run["counts"]["movies_possible_duplicates"] == 1
    assert [n for n in run["notes"] if n["kind"] == "possible_duplicate"] == [listed]
