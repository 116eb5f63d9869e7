"""BREACH: pages stay compressed, but the CSRF token they carry next to reflected input (the
search box) is masked afresh in every response, so no part of it repeats across responses for
compressed sizes to reveal; a masked token, from a form field or htmx's header, is accepted,
a tampered one refused."""

from __future__ import annotations

import base64
import re
from difflib import SequenceMatcher

from flask import Flask
from flask.testing import FlaskClient

from recommender.compression import MASKED_PREFIX, mask, unmask_csrf_token
from tests.web.conftest import sign_in

TOKEN = re.compile(r'(?:name="csrf_token" value|name="csrf-token" content)="([^"]+)"')


def tokens(client: FlaskClient, path: str = "/?q=guess") -> list[str]:
    return TOKEN.findall(client.get(path).get_data(as_text=True))


def longest_shared(a: str, b: str) -> int:
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match()
    return match.size


def test_no_part_of_the_token_repeats_across_responses(app: Flask):
    alice = sign_in(app, "alice")
    first, second = tokens(alice), tokens(alice)
    assert len(first) >= 2 and len(set(first)) == 1, "one token, repeated within a response"
    assert first[0] != second[0]
    # Flask-WTF's own tokens of one session share their first ~50 characters.
    assert longest_shared(first[0], second[0]) < 8, (first[0], second[0])
    assert first[0].startswith(MASKED_PREFIX)
    assert unmask_csrf_token(first[0]).split(".")[0] == unmask_csrf_token(second[0]).split(".")[0]


def test_pages_that_reflect_input_are_still_compressed(app: Flask):
    alice = sign_in(app, "alice")
    page = alice.get("/?q=reflected", headers={"Accept-Encoding": "gzip"})
    assert page.headers.get("Content-Encoding") == "gzip"


def test_a_masked_token_is_accepted_from_the_form_and_from_the_header(app: Flask):
    alice = sign_in(app, "alice")
    token = tokens(alice, "/")[0]
    assert alice.post("/logout", data={"csrf_token": token}).status_code == 302
    bob = sign_in(app, "bob")
    token = tokens(bob, "/")[0]
    response = bob.post("/logout", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 302


def tampered(masked: str) -> str:
    """``masked`` with one bit of the token's first character flipped.

    Not a character near the end: the signature's last base64 character has two bits its
    decoding ignores, so flipping one of those would leave the token valid by chance.
    """
    text = masked[len(MASKED_PREFIX) :]
    both = bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    both[len(both) // 2] ^= 0x01
    return MASKED_PREFIX + base64.urlsafe_b64encode(bytes(both)).decode("ascii").rstrip("=")


def test_a_tampered_or_foreign_masked_token_is_refused(app: Flask):
    alice = sign_in(app, "alice")
    token = tokens(alice, "/")[0]
    flipped = tampered(token)
    assert unmask_csrf_token(flipped) != unmask_csrf_token(token)
    assert alice.post("/logout", data={"csrf_token": flipped}).status_code == 400
    assert alice.post("/logout", data={"csrf_token": mask("not a token")}).status_code == 400
    assert alice.post("/logout", data={"csrf_token": MASKED_PREFIX + "%%%"}).status_code == 400
    assert alice.get("/ratings").status_code == 200  # still signed in


def test_mask_round_trips():
    token = "IjM5YjU0ZDc.aW5z.c2lnbmF0dXJl"
    masks = {mask(token) for _ in range(5)}
    assert len(masks) == 5
    assert {unmask_csrf_token(value) for value in masks} == {token}
    assert unmask_csrf_token(token) == token  # an unmasked token is passed on as it is
