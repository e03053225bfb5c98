"""Batches and their review: the list, one batch, its files, the queue, and the actions.

Every action is recorded in the batch's review trail under the name of who asked: the user
logged in, or the API token's name. A client that sends ``expect`` (the review status it saw)
gets 409 instead of overwriting a review someone else made in the meantime.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import HTTPException, Query, Request
from pydantic import Field
from sqlalchemy import Connection
from starlette.responses import Response

from monitor.store import queries as q
from monitor.views import Page, View
from monitor.views.batches import (
    BatchDetail,
    BatchFileRow,
    BatchRow,
    ReviewQueue,
    add_note,
    batch_detail,
    batch_files,
    batch_list,
    review_many,
    review_queue,
)
from monitor.web.api._base import (
    MAX_ID,
    MAX_TEXT,
    NOT_FOUND,
    TARGET_NAME_PATTERN,
    BatchId,
    DayFrom,
    DayTo,
    Limit,
    Offset,
    Problem,
    StorableText,
    TargetFilter,
    api_router,
    check_range,
    now_of,
    view_response,
    zone_of,
)
from monitor.web.deps import CurrentUser, SettingsDep, StoreDep

router = api_router()

ReviewStatus = Literal["new", "reviewed", "flagged", "dismissed"]
BatchStatus = Literal["open", "settled"]
FileLimit = Annotated[int, Query(ge=1, le=10_000, description="Files a page holds at most.")]
Note = Annotated[StorableText, Field(max_length=MAX_TEXT)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "The batch's review is no longer what expect says."}
}


class ReviewRequest(View):
    """A new review status for a batch, and why."""

    status: ReviewStatus = Field(description="The new review status.")
    note: Note | None = Field(default=None, description="Why (kept in the review trail).")
    expect: ReviewStatus | None = Field(
        default=None,
        description="The review status the client saw: 409 if the batch has another now.",
    )


class BulkReviewRequest(ReviewRequest):
    """One review status and note for several batches, all or none."""

    ids: list[Id] = Field(min_length=1, max_length=1000, description="The batches.")


class NoteRequest(View):
    """A note on a batch, its review status unchanged."""

    note: Note = Field(min_length=1, description="The note.")


@router.get("/batches", response_model=Page[BatchRow], responses=NOT_FOUND, summary="Batches")
def get_batches(
    request: Request,
    store: StoreDep,
    target: TargetFilter = None,
    review: Annotated[ReviewStatus | None, Query(description="Only this review status.")] = None,
    status: Annotated[BatchStatus | None, Query(description="Only open or settled.")] = None,
    start: DayFrom = None,
    end: DayTo = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    """Batches, newest first, opened from local day ``start`` to ``end`` (both included)."""
    check_range(start, end)
    with store.read() as conn:
        view = batch_list(
            conn, zone=zone_of(request), target=target, review=review, status=status,
            start=start, end=end, offset=offset, limit=limit,
        )  # fmt: skip
    return view_response(view)


@router.get(
    "/batches/{batch_id}", response_model=BatchDetail, responses=NOT_FOUND, summary="A batch"
)
def get_batch(
    request: Request,
    batch_id: BatchId,
    store: StoreDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: FileLimit = 500,
    queue_target: Annotated[
        str | None,
        Query(
            pattern=TARGET_NAME_PATTERN,
            max_length=64,
            description="The review queue of this target only.",
        ),
    ] = None,
) -> Response:
    """The batch, a page of its files by path, its review trail and its place in the queue."""
    with store.read() as conn:
        view = batch_detail(
            conn, settings, batch_id, zone=zone_of(request), offset=offset, limit=limit,
            queue_target=queue_target,
        )  # fmt: skip
    return view_response(view)


@router.get(
    "/batches/{batch_id}/files",
    response_model=Page[BatchFileRow],
    responses=NOT_FOUND,
    summary="A batch's files",
)
def get_batch_files(
    request: Request,
    batch_id: BatchId,
    store: StoreDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: FileLimit = 500,
) -> Response:
    """A page of the batch's files, by path, with what the archive holds of each."""
    with store.read() as conn:
        batch = q.get_batch(conn, batch_id)
        view = batch_files(conn, settings, batch, zone=zone_of(request), offset=offset, limit=limit)
    return view_response(view)


@router.get("/queue", response_model=ReviewQueue, responses=NOT_FOUND, summary="The review queue")
def get_queue(
    store: StoreDep,
    current: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="The batch shown now (none: start at the newest)."),
    ] = None,
    target: TargetFilter = None,
    status: Annotated[BatchStatus | None, Query(description="Only open or settled.")] = None,
) -> Response:
    """The batches still to review just above (``previous``) and below (``next``) the
    current one in the list, newest first; without ``current``, ``next`` is the newest."""
    with store.read() as conn:
        if current is not None:
            q.get_batch(conn, current)  # 404 for a batch that does not exist
        view = review_queue(
            conn, MAX_ID if current is None else current, target=target, status=status
        )
    return view_response(view)


def _check_expected(conn: Connection, ids: list[int], expect: str | None) -> None:
    if expect is None:
        return
    for batch_id in ids:
        batch = q.get_batch(conn, batch_id)
        if batch.review != expect:
            who = f" by {batch.reviewed_by}" if batch.reviewed_by else ""
            raise HTTPException(
                409, f"batch {batch_id} is {batch.review}{who} now, not {expect}: reload it"
            )


@router.post(
    "/batches/{batch_id}/review",
    response_model=BatchRow,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Review a batch",
)
def post_review(
    request: Request, batch_id: BatchId, body: ReviewRequest, store: StoreDep, user: CurrentUser
) -> Response:
    """Set the batch's review status (and note), recorded under the caller's name."""
    with store.write() as conn:
        q.get_batch(conn, batch_id)
        _check_expected(conn, [batch_id], body.expect)
        (row,) = review_many(
            conn, [batch_id], status=body.status, actor=user, now=now_of(request),
            zone=zone_of(request), note=body.note,
        )  # fmt: skip
    return view_response(row)


@router.post(
    "/batches/review",
    response_model=list[BatchRow],
    responses={**NOT_FOUND, **CONFLICT},
    summary="Review several batches",
)
def post_bulk_review(
    request: Request, body: BulkReviewRequest, store: StoreDep, user: CurrentUser
) -> Response:
    """Set the review status (and note) of every batch in ``ids``, one event each, in one
    transaction: a batch that does not exist (404) or moved on (409) changes none."""
    ids = list(dict.fromkeys(body.ids))
    with store.write() as conn:
        for batch_id in ids:
            q.get_batch(conn, batch_id)
        _check_expected(conn, ids, body.expect)
        rows = review_many(
            conn, ids, status=body.status, actor=user, now=now_of(request),
            zone=zone_of(request), note=body.note,
        )  # fmt: skip
    return view_response(rows)


@router.post(
    "/batches/{batch_id}/notes",
    response_model=BatchRow,
    responses=NOT_FOUND,
    summary="Add a note to a batch",
)
def post_note(
    request: Request, batch_id: BatchId, body: NoteRequest, store: StoreDep, user: CurrentUser
) -> Response:
    """Add a note without changing the review status; it is kept in the review trail."""
    with store.write() as conn:
        row = add_note(
            conn, batch_id, note=body.note, actor=user, now=now_of(request), zone=zone_of(request)
        )
    return view_response(row)
