"""Wait for kernel messages in short polls while the book executes its notebooks.

nbclient waits for a cell's reply with one long poll of the kernel's shell socket (up to the
cell timeout) and for output with an unbounded poll of the IOPub socket. Under load, pyzmq's
asyncio poller can miss the wake-up of a message that has already arrived, most often when a
cell creates ipywidgets (nbclient issue #312), so the poll sleeps until the 600 s cell timeout
and the build fails although the kernel finished long before. A poll that times out checks the
socket again, so splitting every wait into polls of at most one second recovers a missed
wake-up within a second and changes nothing else.

Loaded as a Sphinx extension from _config.yml; tests that run nbclient themselves call
:func:`install`.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.channels import AsyncZMQSocketChannel

POLL_SLICE_S = 1.0
_PATCHED = "_illustrated_sliced_polls"


def install() -> None:
    """Make every asynchronous kernel channel poll in slices of at most ``POLL_SLICE_S`` seconds."""
    if getattr(AsyncZMQSocketChannel, _PATCHED, False):
        return

    async def get_msg(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = POLL_SLICE_S if deadline is None else max(0.0, deadline - time.monotonic())
            wait_s = min(POLL_SLICE_S, remaining)
            if await self.socket.poll(max(1, int(wait_s * 1000))):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty

    AsyncZMQSocketChannel.get_msg = get_msg
    setattr(AsyncZMQSocketChannel, _PATCHED, True)


def setup(app):
    install()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
