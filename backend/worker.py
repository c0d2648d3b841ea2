"""gunicorn's sync worker, made to spend less on each connection (gunicorn.conf.py names it).

A sync worker serves one request per connection. For a single event, gunicorn's own work on the
connection cost about as much as storing the event; two parts of it are not needed:

- The head and the body of an answer go out as two writes, so two packets. With `TCP_CORK` the
  kernel holds what is written until the connection closes and sends it as full packets, the
  end of the connection with the last one. A request that asked for `100 Continue` is left
  uncorked: that interim answer must go out while the client waits to send its body. Only TCP
  has a cork; on a Unix socket answers go out as gunicorn writes them.
- After answering, gunicorn sends the end of the connection and then waits, up to 2 s, for the
  client to close its end, draining whatever it still sends: request bytes left unread when a
  socket is closed make the kernel reset the connection, and a reset can lose the answer the
  client has not read yet. The worker serves no one while it waits. When the request's body was
  read to its end and no further byte has arrived there is nothing to drain, so the socket is
  closed at once; otherwise (an answer given before the body was read, such as a 401 or 413,
  or a chunked body) gunicorn's own close runs.

TLS connections are left entirely to gunicorn.
"""

import socket

from gunicorn.http.body import LengthReader
from gunicorn.workers.sync import SyncWorker

CORK = getattr(socket, "TCP_CORK", None)  # Linux; elsewhere answers are written as gunicorn writes them
TCP = (socket.AF_INET, socket.AF_INET6)  # a Unix socket (`--bind unix:...`) has no cork


def corks(req, client):
    """Whether the answer to `req` on `client` may be held back until the connection closes."""
    return (CORK is not None and client.family in TCP
            and not any(name == "EXPECT" for name, _ in req.headers))


def close_if_all_read(req, client):
    """Close `client` when `req`'s body was read to its end and nothing more is waiting; return
    whether it was closed. A socket left open is closed by gunicorn's draining close."""
    reader = req.body.reader
    if not (isinstance(reader, LengthReader) and reader.length == 0):
        return False
    try:
        client.setblocking(False)  # a look, not a wait; either close that follows sets its own
        client.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        client.close()  # nothing unread: the answer, then the end of the connection
        return True
    except OSError:
        pass  # the client is gone or reset: gunicorn's close deals with it
    return False


class Worker(SyncWorker):
    """A sync worker that corks its answers and closes at once what needs no draining."""

    def handle_request(self, listener, req, client, addr):
        plain = not self.cfg.is_ssl
        if plain and corks(req, client):
            client.setsockopt(socket.IPPROTO_TCP, CORK, 1)
        super().handle_request(listener, req, client, addr)
        # Reached only once the answer was written in full: any failure raises instead.
        if plain:
            close_if_all_read(req, client)
