"""The channel between a replica's trusted host and its worker (docs/local-sandbox.md#two-processes),
over the process's stdin and stdout (a socket pair belt-api made, or two pipes).

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON (an object). JSON only:
the host never unpickles or executes anything the worker sends, and it reads a frame's length
before its body, so a worker cannot make it hold more than MAX_FRAME bytes.
"""

import json
import os
import select
import socket
import struct
import time

# A batch's answers (every update of up to 1000 records) must fit; a Kafka record is 1 MiB at most
# by default, so one frame holds a batch of them.
MAX_FRAME = 64 * 1024 * 1024
HEADER = struct.Struct(">I")


class ChannelClosed(Exception):
    """The other side closed its end: it exited."""


class BadFrame(Exception):
    """The other side sent something that is not a frame: too long, not JSON, not an object."""


class Channel:
    """Frames over two file descriptors (read end, write end)."""

    def __init__(self, read_fd, write_fd, max_frame=MAX_FRAME):
        self.reader = os.fdopen(read_fd, "rb", buffering=1 << 16)
        self.write_fd = write_fd
        self.max_frame = max_frame

    def fileno(self):
        return self.reader.fileno()

    def readable(self, timeout):
        """Whether a frame (or the end) waits, within `timeout` seconds."""
        ready, _, _ = select.select([self.reader.fileno()], [], [], timeout)
        return bool(ready)

    def close(self, wait):
        """Closes the write end and waits up to `wait` seconds for the other side to close its
        own (it exits): a worker told to end gets to run its atexit handlers before belt-api
        kills what is left of the replica's process group."""
        try:
            # A socket (belt-api joins the two with a socket pair) ends only when every fd of it is
            # closed, and the read end is one of them: shut down its sending side explicitly.
            with socket.socket(fileno=os.dup(self.write_fd)) as end:
                end.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # a pipe (the bench joins them so), or already gone
        try:
            os.close(self.write_fd)
        except OSError:
            return
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.readable(left):
                return
            try:
                if not self.reader.read1(1 << 16):
                    return
            except (OSError, ValueError):
                return

    def send(self, message):
        body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
        data = HEADER.pack(len(body)) + body
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.write_fd, view)
                view = view[written:]
        except (BrokenPipeError, ConnectionResetError) as error:
            raise ChannelClosed() from error

    def _exactly(self, size):
        data = self.reader.read(size)
        if data is None or len(data) < size:
            raise ChannelClosed()
        return data

    def receive(self):
        header = self.reader.read(HEADER.size)
        if not header:
            raise ChannelClosed()
        if len(header) < HEADER.size:
            raise BadFrame("the channel ended inside a frame's length")
        (size,) = HEADER.unpack(header)
        if size > self.max_frame:
            raise BadFrame(f"a frame of {size} bytes, more than the {self.max_frame} allowed")
        try:
            body = self._exactly(size)
        except ChannelClosed:
            raise BadFrame("the channel ended inside a frame") from None
        try:
            message = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise BadFrame(f"a frame that is not JSON ({error})") from None
        if not isinstance(message, dict):
            raise BadFrame(f"a frame that is not a JSON object but {type(message).__name__}")
        return message
