"""Moving a padded batch's arrays to the engine's device, through pinned host memory on CUDA.

A host-to-device copy from pageable memory goes through a driver-side bounce buffer and blocks
the host; from page-locked (pinned) memory it is one DMA that can run asynchronously. The
engine stages each batch's int64 arrays into one reusable pinned buffer and copies them with
`non_blocking=True`.

Reusing one buffer is safe because the buffer is written only after the previous batch's
copies finished: a CUDA event recorded behind them is waited on first (normally long done --
every run ends by copying its outputs back to the host -- but a run that raised midway may not
have waited).

On the CPU (or where pinning is unavailable) arrays are wrapped without a copy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from bei_cli.engine.base import IntArray

log = logging.getLogger(__name__)


class HostStaging:
    """Stages int64 arrays for `device`; pinned and asynchronous on CUDA."""

    def __init__(self, device: torch.device, *, pin: bool | None = None) -> None:
        self.device = device
        self.pinned = device.type == "cuda" if pin is None else pin
        self._buffer = torch.empty(0, dtype=torch.int64)
        self._copied: torch.cuda.Event | None = None  # recorded behind the last async copies

    def to_device(self, arrays: Sequence[IntArray]) -> list[torch.Tensor]:
        if not self.pinned:
            return [torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in arrays]
        if self._copied is not None:
            self._copied.synchronize()
        views = self._stage(arrays)
        moved = [v.to(self.device, non_blocking=True) for v in views]
        if self.pinned:
            self._copied = torch.cuda.Event()
            self._copied.record()
        return moved

    def _stage(self, arrays: Sequence[IntArray]) -> list[torch.Tensor]:
        """Copy `arrays` into consecutive slices of the pinned buffer (grown as needed)."""
        total = sum(a.size for a in arrays)
        if self._buffer.numel() < total:
            self._buffer = self._allocate(total)
        views, start = [], 0
        for array in arrays:
            view = self._buffer[start : start + array.size].view(array.shape)
            view.copy_(torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64)))
            views.append(view)
            start += array.size
        return views

    def _allocate(self, elements: int) -> torch.Tensor:
        # Grow geometrically: batches vary in shape, and each pinned allocation is a slow
        # driver call.
        size = max(elements, 2 * self._buffer.numel())
        try:
            return torch.empty(size, dtype=torch.int64, pin_memory=True)
        except RuntimeError as exc:  # no CUDA driver, or the host refused to lock the pages
            log.warning("pinned host memory unavailable (%s); copying from pageable memory", exc)
            self.pinned = False
            return torch.empty(size, dtype=torch.int64)
