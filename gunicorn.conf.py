"""gunicorn settings from the environment: `gunicorn -c gunicorn.conf.py "backend.app:create_app()"`."""

import gc
import os

bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '5000'}"
workers = int(os.environ.get("WEB_CONCURRENCY") or "2")
timeout = int(os.environ.get("WEB_TIMEOUT") or "30")
# gunicorn's sync worker, made to write each answer in full packets and to close a connection
# at once when there is nothing to drain (backend/worker.py).
worker_class = "backend.worker.Worker"
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

