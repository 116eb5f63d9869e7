"""The admin page's import form while another import runs: a 409 naming the running import
(a conflict to retry later, not a bad file: 422 said "refused", as for a file at fault)."""

from __future__ import annotations

import io
import re

from tests.api.test_import_lock import CATALOGUE_CSV, BlockedImport, running_run
from tests.web.conftest import post


def test_the_admin_import_form_shows_a_busy_import_as_a_409_naming_it(admin, app):
    with BlockedImport(app):
        first = running_run()
        data = {"kind": "catalogue", "file": (io.BytesIO(CATALOGUE_CSV), "more.csv")}
        response = post(admin, "/admin/import", data, htmx=False)
        assert response.status_code == 409
        page = response.get_data(as_text=True)
        assert "Another import is running" in page
        assert re.search(rf"run {first.id} \(movielens &#39;100k&#39;", page), page
