"""TEI /tokenize and /decode on the model's own tokenizer (inline: both are microseconds for the
inputs a client sends to look at its tokens)."""

from __future__ import annotations

from typing import Any, cast

from bei_cli.server.scoring import check_count
from bei_cli.server.tei.serving import prompt_of
from bei_cli.server.tokenizer import TextTokenizer
from bei_cli.server.tokens.protocol import DecodeRequest, TokenizeRequest


class Tokens:
    def __init__(
        self,
        tokenizer: TextTokenizer,
        *,
        max_client_batch_size: int,
        prompts: dict[str, str],
        default_prompt_name: str | None,
    ) -> None:
        self.tokenizer = tokenizer
        self.max_client_batch_size = max_client_batch_size
        self.prompts = prompts
        self.default_prompt_name = default_prompt_name

    def tokenize(self, request: TokenizeRequest) -> list[list[dict[str, Any]]]:
        texts = [request.inputs] if isinstance(request.inputs, str) else request.inputs
        check_count(len(texts), param="inputs", max_items=self.max_client_batch_size)
        prompt = prompt_of(self.prompts, request.prompt_name, self.default_prompt_name) or ""
        rows = self.tokenizer.tokenize(
            [prompt + text for text in texts], add_special_tokens=request.add_special_tokens
        )
        return [
            [
                {"id": i, "text": text, "special": special, "start": start, "stop": stop}
                for i, text, special, start, stop in tokens
            ]
            for tokens in rows
        ]

    def decode(self, request: DecodeRequest) -> list[str]:
        ids = request.ids
        sequences = cast(list[list[int]], [ids] if isinstance(ids[0], int) else ids)
        check_count(len(sequences), param="ids", max_items=self.max_client_batch_size)
        self.tokenizer.encode_ids(sequences, truncate=True, param="ids")  # the vocabulary check
        return self.tokenizer.decode(sequences, skip_special_tokens=request.skip_special_tokens)
