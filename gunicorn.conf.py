"""gunicorn settings from the environment: `gunicorn -c gunicorn.conf.py "backend.app:create_app()"`."""

import gc
import os
import socket

from gunicorn import util

bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '5000'}"
workers = int(os.environ.get("WEB_CONCURRENCY") or "2")
timeout = int(os.environ.get("WEB_TIMEOUT") or "30")
# The app is built once, before the workers fork: the schema upgrade and the demo seeding run
# once, and no two workers race to create a new database file. No connection is open at fork.
preload_app = True
# The application writes one JSON access line per request itself (backend/logs.py).
accesslog = None
errorlog = "-"


def pre_fork(server, worker):
    """Set what the app built before the fork apart from the garbage collector's full passes.

    It lives as long as the worker; every full pass would walk it again (about 0.4 ms a batch of
    1,000 events) and copy its memory pages into the worker.
    """
    gc.freeze()


def close_at_once_when_all_read(close_graceful):
    """gunicorn's close, made not to wait when the client has sent nothing left unread.

    gunicorn ends every connection by sending FIN and then waiting, up to 2 s, for the client to
    close, draining whatever it still sends: unread request data would make the kernel reset the
    connection and the client lose the answer. A sync worker serves nothing else meanwhile, and
    that wait was a tenth of a single POST's time. When no unread byte is waiting (the request
    was read to its end, as every well-formed one is), there is nothing to drain: the socket is
    closed at once, which sends FIN after the answer. Otherwise gunicorn's own close runs.
    """
    def close(sock, *args, **kwargs):
        try:
            sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            sock.close()  # nothing unread
            return
        except OSError:
            pass
        close_graceful(sock, *args, **kwargs)

    close.closes_at_once = True
    return close


if not getattr(util.close_graceful, "closes_at_once", False):
    util.close_graceful = close_at_once_when_all_read(util.close_graceful)
