"""Model-route replies: numpy vectors are written straight from the arrays (no float lists), as
JSON by default or as MessagePack when the client prefers it (`transport.ContentNegotiation`
decides per request and records it in `REPLY_FORMAT`)."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Literal

import msgpack
import numpy as np
import orjson
from starlette.background import BackgroundTask
from starlette.responses import Response

ReplyFormat = Literal["application/json", "application/msgpack"]
JSON: ReplyFormat = "application/json"
MSGPACK: ReplyFormat = "application/msgpack"
REPLY_FORMAT: ContextVar[ReplyFormat] = ContextVar("bei_reply_format", default=JSON)


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"cannot serialize {type(value).__name__}")


class OrjsonResponse(Response):
    media_type = JSON

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.format = REPLY_FORMAT.get()
        super().__init__(content, status_code, headers, media_type or self.format, background)

    def render(self, content: Any) -> bytes:
        if self.format == MSGPACK:
            # Single floats: every vector and score is float32 already, so nothing is lost.
            packed: bytes = msgpack.packb(content, default=_msgpack_default, use_single_float=True)
            return packed
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
