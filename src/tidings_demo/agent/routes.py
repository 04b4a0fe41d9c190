"""``POST /api/agent/sessions`` starts a run; ``GET /api/agent/sessions/{sessionId}`` reports it."""

from __future__ import annotations

from aiohttp import web

from tidings_demo import notify
from tidings_demo.agent.workflow import AlreadyRunning, Runs, channel_for
from tidings_demo.httputil import error, json_object, present

RUNS = web.AppKey("agent_runs", Runs)
MAX_MESSAGE_LENGTH = 2000


async def start_run(request: web.Request) -> web.Response:
    body = await json_object(request)
    if body is None or not all(present(body.get(f)) for f in ("sessionId", "message")):
        return error(400, "Missing required fields: sessionId, message")
    session_id, message = body["sessionId"], body["message"]
    if not isinstance(session_id, str) or not isinstance(message, str):
        return error(400, "Invalid run: sessionId and message must be strings")
    problem = notify.channel_problem(channel_for(session_id))
    if problem:
        return error(400, f"Invalid run: sessionId gives a bad {problem}")
    if len(message) > MAX_MESSAGE_LENGTH:
        return error(400, f"Invalid run: message is longer than {MAX_MESSAGE_LENGTH} characters")
    try:
        status = request.app[RUNS].start(session_id, message)
    except AlreadyRunning:
        return error(409, f"A run is already in progress for session {session_id}")
    location = f"/api/agent/sessions/{session_id}"
    return web.json_response(status.as_json(), status=202, headers={"Location": location})


async def run_status(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    status = request.app[RUNS].get(session_id)
    if status is None:
        return error(404, f"No run for session {session_id}")
    return web.json_response(status.as_json())


def add_routes(app: web.Application, runs: Runs) -> None:
    app[RUNS] = runs

    async def stop_runs(app: web.Application) -> None:
        await runs.close()

    app.on_cleanup.append(stop_runs)
    app.router.add_post("/api/agent/sessions", start_run)
    app.router.add_get("/api/agent/sessions/{session_id}", run_status)
