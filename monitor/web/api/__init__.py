"""The JSON API under ``/api``: the pages' data and the review actions, for scripts and tools.

Every route needs a login: an API token (``Authorization: Bearer``, from ``[web] api_tokens``)
or a session; a POST from a session also needs its ``X-CSRF-Token`` header (tokens do not).
Routes return the read model's views (:mod:`monitor.views`); the OpenAPI schema, with every
model, is at ``/api/openapi.json``. Errors are ``{"detail": ...}``: 401 no login, 403 no CSRF
token, 404 an unknown target, batch, path or body, 409 a review that moved on, 422 a bad
parameter (FastAPI's list of problems), 503 a database or blob store that refused.

Modules, one job each:

- :mod:`~monitor.web.api._base`    the router, error translation, JSON of views, parameters
- :mod:`~monitor.web.api.reading`  dashboard, target, day diff, file history, search, feed
- :mod:`~monitor.web.api.review`   batches, one batch and its files, the queue, review actions
- :mod:`~monitor.web.api.exports`  a day diff and a batch as CSV and JSON downloads
- :mod:`~monitor.web.api.bodies`   archived bodies: downloads, safe inline images, text previews

File names are the server's, decoded; an undecodable byte is the escape ``\\udcXX`` in JSON
(``json.loads`` gives back the name) and is sent in a query as its percent-escape (``%FF``).
"""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """The API's routers; exports first (``/days/{day}.csv`` before ``/days/{day}``)."""
    from monitor.web.api import bodies, exports, reading, review

    return [exports.router, reading.router, review.router, bodies.router]


__all__ = ["routers"]
