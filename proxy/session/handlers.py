"""One handler per decision (proxy.routing.decide.Action): each runs a request of a READY session.

A handler either forwards the frame to Cassandra (with the response handler that shapes the
answer), answers the client itself, or hands the request to a mapped path that answers later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cql_protocol.errors import Overloaded, Unprepared

from ..routing.decide import Action
from ..system_tables import intercept

if TYPE_CHECKING:
    from ..routing.request import Request
    from .session_port import SessionPort

Handler = Callable[["SessionPort", "Request"], None]


def _forward(s: SessionPort, req: Request) -> None:
    s.forward(req.frame, None)


def _overloaded(s: SessionPort, req: Request) -> None:
    s.reply_error(req.frame.stream, Overloaded("the sidecar is shutting down; retry on another node"))


def _unprepared(s: SessionPort, req: Request) -> None:
    # prepared before this sidecar knew it: the driver prepares it again through us
    s.reply_error(req.frame.stream, Unprepared(req.query_id or b""))


def _handshake(s: SessionPort, req: Request) -> None:
    s.handshake(req.frame)


def _supported(s: SessionPort, req: Request) -> None:
    s.forward(req.frame, intercept.on_supported)


def _use(s: SessionPort, req: Request) -> None:
    s.forward(req.frame, intercept.on_use_result)


def _system_rows(s: SessionPort, req: Request) -> None:
    s.forward(req.frame, intercept.for_system_rows(s, req))


def _prepare_system(s: SessionPort, req: Request) -> None:
    s.forward(req.frame, intercept.for_prepare(s, req))


def _prepare(s: SessionPort, req: Request) -> None:
    dual = s.dual
    assert dual is not None
    s.forward(req.frame, dual.for_prepare(s, req))


def _write(s: SessionPort, req: Request) -> None:
    dual = s.dual
    assert dual is not None
    dual.for_write(s, req)


def _read(s: SessionPort, req: Request) -> None:
    reads = s.reads
    assert reads is not None
    reads.for_read(s, req)


HANDLERS: dict[Action, Handler] = {
    Action.FORWARD: _forward,
    Action.OVERLOADED: _overloaded,
    Action.UNPREPARED: _unprepared,
    Action.HANDSHAKE: _handshake,
    Action.SUPPORTED: _supported,
    Action.USE: _use,
    Action.SYSTEM_ROWS: _system_rows,
    Action.PREPARE_SYSTEM: _prepare_system,
    Action.PREPARE: _prepare,
    Action.WRITE: _write,
    Action.READ: _read,
}
assert set(HANDLERS) == set(Action), "every decision has its handler"
