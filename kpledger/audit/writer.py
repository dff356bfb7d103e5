"""Write the replay's chunks from a child process, so that SQLite works on another core.

Why a process and not the writer thread alone: CPython runs one thread's Python at a
time, and ``sqlite3``'s ``executemany`` hands the GIL back and forth around every row
it steps. A writer thread therefore alternates with the decoding thread instead of
running beside it: on the project's two cores, a replay's wall time was its CPU time
(measured in docs/benchmarks.md). A child process has its own interpreter; the rows
cross a pipe as plain tuples in :mod:`marshal` form (under 2 µs an event each way, less
than the hand-offs cost; in the parent, where the decoding waits for it, a third less
CPU than pickling them). The answers come back pickled: they may carry an exception.

The protocol is one chunk at a time: the parent's writer thread sends ``(rows,
previous, checkpoint)``, the rows packed into plain tuples
(:func:`~kpledger.audit.store.pack`), and waits for the child's answer before it sends
the next chunk, so as many chunks are in flight as with a writer thread (the folder's
window of recent rows relies on that) and a chunk is committed, with its checkpoint,
before the next one leaves. The child writes each chunk with
:func:`~kpledger.audit.store.write_chunk`, in one transaction, exactly as the thread
does: a replay stopped at any point resumes from the checkpoint either way.

The child ignores SIGINT: a Ctrl-C stops the parent, which lets the chunk in flight
finish and then closes the child. A child left alone (its parent killed) reads the end
of its input and exits. The database URL (which may hold a password) crosses the pipe,
never the command line.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kpledger.errors import KPLedgerError

if TYPE_CHECKING:
    from kpledger.audit.fold import ChunkRows
    from kpledger.audit.store import Checkpoint

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_MARSHAL_VERSION = 4  # parent and child run the same interpreter (``sys.executable``)
_SIZE = 8  # bytes of the length that precedes each message to the child
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
# The child imports only what writes (SQLAlchemy and four of these modules): the audit
# package's __init__ would pull in web3 and the report modules, a second of CPU taken
# from the replay it is meant to speed up. So the package is registered without it.
_CHILD = """
import os, sys, types, kpledger
package = types.ModuleType("kpledger.audit")
package.__path__ = [os.path.join(kpledger.__path__[0], "audit")]
sys.modules["kpledger.audit"] = package
from kpledger.audit.writer import main
main(sys.argv[1:])
"""


class IndexWriterFailed(KPLedgerError):
    """The writer process failed in a way that cannot be shown as its own exception."""


def available() -> bool:
    """Whether chunks can be written from a child process on this platform."""
    return os.name == "posix" and bool(sys.executable)


class WriterProcess:
    """A child process writing chunks to the index at ``db_url`` (a SQLAlchemy URL)."""

    def __init__(self, db_url: str) -> None:
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(to_child_read), str(from_child_write)],
                pass_fds=(to_child_read, from_child_write),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            os.close(to_child_read)
            os.close(from_child_write)
        self._to_child: IO[bytes] = os.fdopen(to_child_write, "wb")
        self._from_child: IO[bytes] = os.fdopen(from_child_read, "rb")
        self._ready = False
        self._send(db_url)

    def _send(self, message: Any) -> None:
        """Serialise first, then hand the bytes to the kernel in one ``os.write`` loop.
        Writing into the pipe as it serialises would write 64 KiB at a time, giving up
        the GIL and waiting to take it back from the decoding thread after every piece
        (a convoy that cost more than the writing itself); one blocking write gives it
        up once."""
        view = memoryview(_frame(message))
        try:
            while view:
                view = view[os.write(self._to_child.fileno(), view) :]
        except BrokenPipeError:
            raise self._died() from None

    def _receive(self) -> Any:
        try:
            return pickle.load(self._from_child)
        except EOFError:
            raise self._died() from None

    def _died(self) -> IndexWriterFailed:
        code = self._process.wait()
        return IndexWriterFailed(f"the index writer process exited (code {code}) before answering")

    def _answer(self) -> None:
        answer = self._receive()
        if answer[0] == "error":
            raise answer[1]

    def write(self, rows: ChunkRows, previous: Checkpoint, checkpoint: Checkpoint) -> None:
        """Write one chunk and move the checkpoint (see :meth:`IndexStore.write`); returns
        once the child has committed it, raises what the child raised."""
        from kpledger.audit.store import pack

        if not self._ready:
            self._answer()
            self._ready = True
        self._send((tuple(pack(rows)), (previous.block, previous.hash), (checkpoint.block, checkpoint.hash)))
        self._answer()

    def close(self, timeout: float = 30.0) -> None:
        """Let the child finish and exit; kill it if it does not within ``timeout``."""
        with contextlib.suppress(OSError, ValueError):
            self._send(None)
        with contextlib.suppress(OSError):
            self._to_child.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        finally:
            self._from_child.close()


def _failure(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a :class:`IndexWriterFailed` saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc, protocol=_PROTOCOL))
    except Exception:  # any exception that does not round-trip is described instead
        return IndexWriterFailed(f"{type(exc).__name__}: {exc}")
    return exc


def _frame(message: Any) -> bytes:
    """A message to the child: its length, then its :mod:`marshal` form."""
    data = marshal.dumps(message, _MARSHAL_VERSION)
    return len(data).to_bytes(_SIZE, "little") + data


def _read(source: IO[bytes]) -> Any:
    """One message from the parent. Read whole, then unmarshalled: ``marshal.load`` on a
    pipe would call the file's ``readinto`` once for every string in the chunk."""
    head = source.read(_SIZE)
    size = int.from_bytes(head, "little") if len(head) == _SIZE else 0
    data = source.read(size) if size else b""
    if not size or len(data) != size:  # the end, or cut short: the parent died in mid-message
        raise EOFError
    return marshal.loads(data)


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """The child's loop: open the index named by the first message, then write each
    chunk received until ``None`` or the end of the input.

    One connection serves the whole run: its page cache stays warm from chunk to chunk
    (only this process writes), and no chunk pays for opening the file, setting the
    pragmas and, on closing it, checkpointing the write-ahead log."""
    from kpledger.audit.schema import connect
    from kpledger.audit.store import Checkpoint, PackedChunk, write_chunk

    def answer(message: Any) -> None:
        pickle.dump(message, sink, protocol=_PROTOCOL)
        sink.flush()

    try:
        url = _read(source)
    except EOFError:  # the parent went away before it asked anything
        return
    try:
        engine = connect(url)
        conn = engine.connect()
    except Exception as exc:  # handed to the parent, raised there
        answer(("error", _failure(exc)))
        return
    answer(("ok",))
    try:
        while True:
            try:
                message = _read(source)
            except EOFError:  # the parent went away, maybe in mid-message
                return
            if message is None:
                return
            chunk, previous, checkpoint = message
            try:
                with conn.begin():
                    write_chunk(conn, PackedChunk(*chunk), Checkpoint(*previous), Checkpoint(*checkpoint))
            except Exception as exc:  # handed to the parent, raised there
                answer(("error", _failure(exc)))
                continue
            answer(("ok",))
    finally:
        conn.close()
        engine.dispose()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    gc.disable()  # the rows hold no cycles; collections would only traverse them again
    with os.fdopen(int(argv[0]), "rb") as source, os.fdopen(int(argv[1]), "wb") as sink:
        serve(source, sink)
