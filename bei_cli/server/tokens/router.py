"""Routes of the tokenizer family: parse, hand to the serving object on app.state, reply."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from bei_cli.server.errors import ERROR_RESPONSES
from bei_cli.server.responses import OrjsonResponse
from bei_cli.server.tokens.protocol import DecodeRequest, SimpleToken, TokenizeRequest
from bei_cli.server.tokens.serving import Tokens

router = APIRouter(tags=["Tokenizer"])


def serving(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


@router.post("/tokenize", response_model=list[list[SimpleToken]], responses=ERROR_RESPONSES)
async def tokenize(body: TokenizeRequest, request: Request) -> Response:
    """The model's tokens of each text, with character spans; one list per text."""
    return OrjsonResponse(serving(request).tokenize(body))


@router.post("/decode", response_model=list[str], responses=ERROR_RESPONSES)
async def decode(body: DecodeRequest, request: Request) -> Response:
    """Token ids back to text; one string per id list."""
    return OrjsonResponse(serving(request).decode(body))
