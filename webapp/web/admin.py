"""The operator's console (``/admin``, htmx pages) and JSON API (``/admin/api/...``) over the same operator.

The API answers the admin bearer token; the console answers its own session cookie and a CSRF token on
every POST. Both call :class:`webapp.queue.operator.Operator`, so a button and an API call do the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, HTTPException
from litestar.params import Body, FromQuery, JSONBody
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_401_UNAUTHORIZED,
    HTTP_409_CONFLICT,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from webapp.queue.controls import PaceError
from webapp.queue.events import Event, events_csv, valid_since
from webapp.queue.operator import Actor, Operator, Overview, PausedError, QueueNotReadyError
from webapp.queue.store import SlideOutcome, SlideResult
from webapp.web.admin_auth import (
    SESSION_SECONDS,
    admin_auth_of,
    console_session,
    require_admin_token,
    require_console_session,
    session_cookie,
)
from webapp.web.charts import bar_chart, line_chart
from webapp.web.clients import client_address
from webapp.web.guards import same_origin
from webapp.web.paths import url_for

AnyRequest = Request[Any, Any, State]
PAUSE_NOTE = (
    "Pausing holds the queue: nobody new is let in and nobody loses their place. Visitors already admitted keep "
    "their passes and can finish checking out."
)


def operator_of(request: AnyRequest) -> Operator:
    operator: Operator = request.app.state.operator
    return operator


def _now() -> int:
    return int(time.time())


class ConflictException(HTTPException):
    status_code = HTTP_409_CONFLICT


class NotReadyException(HTTPException):
    status_code = HTTP_503_SERVICE_UNAVAILABLE


async def _run(call: Any) -> Any:
    """Map the operator's refusals to HTTP answers (the same for the API and the console)."""
    try:
        return await call
    except PaceError as exc:
        raise ClientException(detail=str(exc), extra={"field": exc.field}) from None
    except PausedError as exc:
        raise ConflictException(detail=str(exc)) from None
    except QueueNotReadyError as exc:
        raise NotReadyException(detail=str(exc), headers={"Retry-After": "2"}) from None
    except ValueError as exc:
        raise ClientException(detail=str(exc)) from None


def _slide_body(result: SlideResult) -> dict[str, Any]:
    names = {SlideOutcome.SLID: "slid", SlideOutcome.SKIPPED: "skipped", SlideOutcome.MOVED: "moved"}
    return {"outcome": names.get(result.outcome, result.outcome.name.lower()), "window_end": result.window_end}


def _confirm(operator: Operator, data: Any) -> None:
    confirm = data.get("confirm") if isinstance(data, dict) else None
    if confirm != operator.queue_name:
        raise ClientException(
            detail=f"confirm: type the queue name ({operator.queue_name!r}) to confirm a reset",
            extra={"field": "confirm"},
        )


def _events_json(events: list[Event]) -> dict[str, Any]:
    return {"events": [e.as_dict() for e in events], "last_id": events[-1].id if events else None}


def _csv(events: list[Event]) -> Response[str]:
    return Response(
        events_csv(events),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="session-queue-events.csv"'},
    )


# The JSON API.


@get("/admin/api/queue", tags=["admin"], security=[{"bearer": []}])
async def api_queue(request: AnyRequest) -> dict[str, Any]:
    """The queue now: paused, pace, window, waiting, active range, admission rate, leader, replicas, Redis."""
    await require_admin_token(request)
    overview: Overview = await _run(operator_of(request).overview())
    return overview.as_dict()


@post("/admin/api/pause", tags=["admin"], security=[{"bearer": []}], status_code=200)
async def api_pause(request: AnyRequest) -> dict[str, Any]:
    actor = await require_admin_token(request)
    await _run(operator_of(request).pause(actor))
    return {"paused": True, "note": PAUSE_NOTE}


@post("/admin/api/resume", tags=["admin"], security=[{"bearer": []}], status_code=200)
async def api_resume(request: AnyRequest) -> dict[str, Any]:
    actor = await require_admin_token(request)
    await _run(operator_of(request).resume(actor))
    return {"paused": False}


@put("/admin/api/pace", tags=["admin"], security=[{"bearer": []}])
async def api_pace(request: AnyRequest, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Any of window_size, window_interval, active_window_count; the environment's rules apply (400 names the field)."""
    actor = await require_admin_token(request)
    pace = await _run(operator_of(request).set_pace(actor, data))
    return {
        "window_size": pace.window_size,
        "window_interval": pace.window_interval,
        "active_window_count": pace.active_window_count,
    }


@post("/admin/api/slide", tags=["admin"], security=[{"bearer": []}], status_code=200)
async def api_slide(request: AnyRequest) -> dict[str, Any]:
    actor = await require_admin_token(request)
    return _slide_body(await _run(operator_of(request).slide_now(actor)))


@put("/admin/api/message", tags=["admin"], security=[{"bearer": []}])
async def api_message(request: AnyRequest, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    actor = await require_admin_token(request)
    return {"text": await _run(operator_of(request).set_message(actor, data.get("text")))}


@delete("/admin/api/message", tags=["admin"], security=[{"bearer": []}], status_code=200)
async def api_clear_message(request: AnyRequest) -> dict[str, Any]:
    actor = await require_admin_token(request)
    await _run(operator_of(request).clear_message(actor))
    return {"text": ""}


@post("/admin/api/reset", tags=["admin"], security=[{"bearer": []}], status_code=200)
async def api_reset(request: AnyRequest, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """A new epoch: every earlier ticket is refused. Body ``{"confirm": "<QUEUE_NAME>"}``."""
    actor = await require_admin_token(request)
    operator = operator_of(request)
    _confirm(operator, data)
    return {"epoch": await _run(operator.reset(actor))}


@get("/admin/api/events", tags=["admin"], security=[{"bearer": []}])
async def api_events(
    request: AnyRequest, since: FromQuery[str] = "0", format: FromQuery[str] = "json"
) -> Response[Any]:
    """Events after ``since`` (a stream id or a time in ms), oldest first; ``?format=csv`` for the report."""
    await require_admin_token(request)
    if not valid_since(since):
        raise ClientException(detail="since: expected a stream id such as 1700000000000-0 or a time in ms")
    if format not in ("json", "csv"):
        raise ClientException(detail="format: expected json or csv")
    events = await operator_of(request).events.after(since, count=10_000)
    return _csv(events) if format == "csv" else Response(_events_json(events))


# The console.


def _actor(request: AnyRequest) -> Actor:
    return require_console_session(request, _now())


def _panel_context(overview: Overview, events: list[Event]) -> dict[str, Any]:
    return {
        "q": overview,
        "events": events,
        "waiting_chart": line_chart([p.waiting for p in overview.history]),
        "admitted_chart": bar_chart([p.admitted for p in overview.history]),
        "pause_note": PAUSE_NOTE,
    }


async def _panel(request: AnyRequest, error: str | None = None) -> dict[str, Any]:
    operator = operator_of(request)
    context = _panel_context(await _run(operator.overview()), await operator.latest_events())
    context["error"] = error
    context["queue_name"] = operator.queue_name
    return context


def _login_page(request: AnyRequest, error: str | None = None, status_code: int = 200) -> Template:
    context = {"queue_name": operator_of(request).queue_name, "error": error}
    return Template("admin_login.html", context=context, status_code=status_code)


@get("/admin", name="admin", tags=["admin"], include_in_schema=False)
async def console(request: HTMXRequest) -> Response[Any]:
    """The console, or its login form without a session."""
    if console_session(request, _now()) is None:
        return _login_page(request)
    return Template("admin.html", context=await _panel(request))


@get("/admin/panel", name="admin-panel", tags=["admin"], include_in_schema=False)
async def console_panel(request: HTMXRequest) -> Response[Any]:
    """The live part of the console, polled by htmx."""
    _actor(request)
    return HTMXTemplate(template_name="_admin_panel.html", context=await _panel(request))


@dataclass
class LoginForm:
    token: str = ""


@post("/admin/login", name="admin-login", guards=[same_origin], tags=["admin"], include_in_schema=False)
async def login(
    request: HTMXRequest, data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Response[Any]:
    auth = admin_auth_of(request)
    auth.require_enabled()
    address = client_address(request)
    await auth.check_not_locked(address)
    if not auth.is_admin_token(data.token.strip()):
        failures = await auth.failed(address)
        return _login_page(request, f"That token is not right ({failures} failed attempts).", HTTP_401_UNAUTHORIZED)
    await auth.succeeded(address)
    value, session = auth.new_session(_now())
    await operator_of(request).events.record(
        "login", "console session opened", f"session:{session.session_id[:8]}", address
    )
    response = Redirect(url_for(request, "admin"), status_code=HTTP_303_SEE_OTHER)
    response.cookies.append(session_cookie(value, SESSION_SECONDS, url_for(request, "admin")))
    return response


@post("/admin/logout", name="admin-logout", guards=[same_origin], tags=["admin"], include_in_schema=False)
async def logout(request: HTMXRequest) -> Response[Any]:
    admin_auth_of(request).require_enabled()
    response = Redirect(url_for(request, "admin"), status_code=HTTP_303_SEE_OTHER)
    response.cookies.append(session_cookie("", 0, url_for(request, "admin")))
    return response


async def _after_control(request: HTMXRequest, error: str | None = None) -> Response[Any]:
    """htmx gets the fresh panel; a plain form post goes back to the console."""
    if request.htmx:
        return HTMXTemplate(template_name="_admin_panel.html", context=await _panel(request, error))
    return Redirect(url_for(request, "admin"), status_code=HTTP_303_SEE_OTHER)


async def _control(request: HTMXRequest, call: Any) -> Response[Any]:
    try:
        await _run(call)
    except (ClientException, ConflictException) as exc:
        if not request.htmx:
            raise
        return await _after_control(request, str(exc.detail))
    return await _after_control(request)


@post("/admin/pause", name="admin-pause", guards=[same_origin], tags=["admin"], include_in_schema=False)
async def console_pause(request: HTMXRequest) -> Response[Any]:
    return await _control(request, operator_of(request).pause(_actor(request)))


@post("/admin/resume", name="admin-resume", guards=[same_origin], tags=["admin"], include_in_schema=False)
async def console_resume(request: HTMXRequest) -> Response[Any]:
    return await _control(request, operator_of(request).resume(_actor(request)))


@post("/admin/slide", name="admin-slide", guards=[same_origin], tags=["admin"], include_in_schema=False)
async def console_slide(request: HTMXRequest) -> Response[Any]:
    return await _control(request, operator_of(request).slide_now(_actor(request)))


@dataclass
class PaceForm:
    window_size: str = ""
    window_interval: str = ""
    active_window_count: str = ""


@post("/admin/pace", name="admin-pace", guards=[same_origin], tags=["admin"], include_in_schema=False)
async def console_pace(
    request: HTMXRequest, data: Annotated[PaceForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Response[Any]:
    changes = {k: v.strip() for k, v in vars(data).items() if v.strip()}
    return await _control(request, operator_of(request).set_pace(_actor(request), changes))


@dataclass
class MessageForm:
    text: str = ""


@post("/admin/message", name="admin-message", guards=[same_origin], tags=["admin"], include_in_schema=False)
async def console_message(
    request: HTMXRequest, data: Annotated[MessageForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Response[Any]:
    operator, actor = operator_of(request), _actor(request)
    call = operator.set_message(actor, data.text) if data.text.strip() else operator.clear_message(actor)
    return await _control(request, call)


@dataclass
class ResetForm:
    confirm: str = ""


@post("/admin/reset", name="admin-reset", guards=[same_origin], tags=["admin"], include_in_schema=False)
async def console_reset(
    request: HTMXRequest, data: Annotated[ResetForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Response[Any]:
    operator, actor = operator_of(request), _actor(request)
    if data.confirm.strip() != operator.queue_name:
        error = f"Not reset: type the queue name ({operator.queue_name}) to confirm."
        if request.htmx:
            return await _after_control(request, error)
        raise ClientException(detail=error)
    return await _control(request, operator.reset(actor))


@get("/admin/events.csv", name="admin-events-csv", tags=["admin"], include_in_schema=False)
async def console_events_csv(request: HTMXRequest) -> Response[str]:
    """The whole event log as CSV, for the post-sale report (console session)."""
    _actor(request)
    return _csv(await operator_of(request).events.after("0", count=100_000))


API_HANDLERS = [
    api_queue,
    api_pause,
    api_resume,
    api_pace,
    api_slide,
    api_message,
    api_clear_message,
    api_reset,
    api_events,
]
CONSOLE_HANDLERS = [
    console,
    console_panel,
    login,
    logout,
    console_pause,
    console_resume,
    console_slide,
    console_pace,
    console_message,
    console_reset,
    console_events_csv,
]
