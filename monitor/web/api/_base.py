"""What every API module shares: the router, error translation, JSON of views, parameters.

- :func:`api_router`: an ``APIRouter`` whose routes need a login (a session or an API token)
  and translate the library's errors in one place (:class:`ApiRoute`): ``NotFound`` and
  ``BlobMissing`` → 404, ``UsageError`` → 422 (shaped as FastAPI's own 422), a database or blob
  store that refuses → 503.
- :func:`view_response`: a view (or a list of views) as JSON, written as the CLI writes JSON,
  so an undecodable file name (the lone surrogate ``\\udcXX``) is the escape ``"\\udcXX"``
  and never a crash. Routes declare ``response_model`` for the schema and return this.
- Parameter types with bounds a database accepts: ids, paging, days, text without NUL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, Field
from starlette.responses import Response

from monitor.errors import ArchiveError, BlobMissing, NotFound, StoreError, UsageError
from monitor.web.deps import current_user, get_settings, web_state

#: Ids are INTEGER columns: a bigger number is no id (and PostgreSQL refuses to compare it).
MAX_ID = 2**31 - 1
MAX_OFFSET = 2**31 - 1
MAX_TEXT = 10_000
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9000, 12, 31)
_SURROGATES = re.compile("[\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Problem(BaseModel):
    """An error: what went wrong, in a sentence."""

    detail: str = Field(description="What went wrong.")


#: Responses every API route may give besides its own.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No login: send Authorization: Bearer <API token>."},
    403: {"model": Problem, "description": "A POST from a session without its X-CSRF-Token."},
    503: {"model": Problem, "description": "The database or the blob store refused."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such target, batch, path or body."}
}


def _validation_error(message: str) -> HTTPException:
    """A 422 shaped as FastAPI's own (``{"detail": [{"loc", "msg", "type"}]}``)."""
    return HTTPException(422, [{"loc": ["query"], "msg": message, "type": "value_error"}])


class ApiRoute(APIRoute):
    """A route whose library errors become HTTP errors, here and nowhere else."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handler(request)
            except (NotFound, BlobMissing) as exc:
                raise HTTPException(404, exc.message) from exc
            except UsageError as exc:
                raise _validation_error(exc.message) from exc
            except (StoreError, ArchiveError) as exc:
                raise HTTPException(503, exc.message) from exc

        return translated


def api_router() -> APIRouter:
    """A router for ``/api/…`` routes: login required, errors translated, in the schema."""
    return APIRouter(
        prefix="/api",
        route_class=ApiRoute,
        dependencies=[Depends(current_user)],
        responses=COMMON_ERRORS,
    )


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, Sequence) and not isinstance(data, str):
        return [_plain(item) for item in data]
    return data


def json_bytes(data: Any) -> bytes:
    """Views, lists of views or plain data as compact JSON; undecodable bytes of a name (lone
    surrogates) written as ``\\udcXX`` escapes, which ``json.loads`` turns back into the name."""
    text = json.dumps(_plain(data), ensure_ascii=False, separators=(",", ":"))
    return _SURROGATES.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text).encode("utf-8")


def view_response(data: BaseModel | Sequence[BaseModel], status_code: int = 200) -> Response:
    return Response(json_bytes(data), status_code=status_code, media_type="application/json")


def zone_of(request: Request) -> ZoneInfo:
    return get_settings(request).zone


def now_of(request: Request) -> Any:
    return web_state(request).clock()


def _storable(value: str | None) -> str | None:
    if value is not None and _UNSTORABLE.search(value):
        raise ValueError("text cannot hold NUL or unpaired surrogate characters")
    return value


def _in_range(value: date | None) -> date | None:
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"a day between {FIRST_DAY} and {LAST_DAY}, not {value}")
    return value


#: Text that a database can store (no NUL, no lone surrogate).
StorableText = Annotated[str, AfterValidator(_storable)]
TARGET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

TargetName = Annotated[
    str, Path(description="Target name.", pattern=TARGET_NAME_PATTERN, max_length=64)
]
TargetFilter = Annotated[
    str | None,
    Query(description="Only this target.", pattern=TARGET_NAME_PATTERN, max_length=64),
]
BatchId = Annotated[int, Path(description="Batch id.", ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(description="Rows to skip.", ge=0, le=MAX_OFFSET)]
Day = Annotated[date, AfterValidator(_in_range), Path(description="A local day, YYYY-MM-DD.")]
DayFrom = Annotated[
    date | None, AfterValidator(_in_range), Query(description="The first day (included).")
]
DayTo = Annotated[
    date | None, AfterValidator(_in_range), Query(description="The last day (included).")
]


#: A page size, for lists whose views cap it at 1000.
Limit = Annotated[int, Query(description="Rows a page holds at most.", ge=1, le=1000)]


def check_range(start: date | None, end: date | None) -> None:
    """UsageError (422) for a day range that ends before it starts."""
    if start is not None and end is not None and end < start:
        raise UsageError(f"the range ends ({end}) before it starts ({start})")


def raw_query_value(request: Request, key: str) -> str | None:
    """The query parameter ``key`` decoded as the CLI decodes file names: UTF-8, an
    undecodable byte (``%FF``) kept as the lone surrogate ``\\udcff``, not replaced."""
    wanted = key.encode("ascii")
    for part in request.scope.get("query_string", b"").split(b"&"):
        name, _, value = part.partition(b"=")
        if unquote_to_bytes(name.replace(b"+", b" ")) == wanted:
            return unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8", "surrogateescape")
    return None
