"""Real servers for tests: the product started as a process on 127.0.0.1, stopped or killed at will."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What `make run` serves with, after `$(BIN)/gunicorn` (the Makefile's `run` target; a test holds
# the two equal). The tests run it with this interpreter: `python -m gunicorn` is that program.
SERVE_ARGS = ["-c", "gunicorn.conf.py", "backend.app:create_app()"]
GUNICORN = [sys.executable, "-m", "gunicorn", *SERVE_ARGS]
DEV_SERVER = [sys.executable, "-m", "backend"]
# Real processes run on the wall clock, and the tests post events on fixed dates of 2026 (their
# figures are worked out by hand): an age limit that lets those dates in for the years to come.
FIXED_DATES = {"MAX_EVENT_AGE_DAYS": "36500"}


def free_port():
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(base, path, body=None, method=None, headers=None):
    """`(status, json)` of one HTTP request."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class Server:
    """One server process with its folder (database `factory.db`, log `server.log`) and port.

    It can be stopped or killed and started again on the same port and database file, as an
    outage would. Its log goes to a file so a busy server never blocks on a full pipe.
    """

    def __init__(self, folder, command=GUNICORN, **env):
        os.makedirs(folder, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = command
        self.database_path = os.path.join(folder, "factory.db")
        self.log_path = os.path.join(folder, "server.log")
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "WEB_CONCURRENCY": "2",
                    "DATABASE_PATH": self.database_path, "SEED_IF_EMPTY": "0", **FIXED_DATES, **env}
        self.process = None

    def start(self, deadline_s=30):
        """Start the process and return once `/health` answers."""
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(self.command, cwd=REPO_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.process.poll() is not None:
                with open(self.log_path) as log:
                    raise AssertionError(f"server exited with {self.process.returncode}: {log.read()[-3000:]}")
            try:
                if request(self.base, "/health")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.05)  # the port is not listening yet
        raise AssertionError("server did not become healthy")

    def stop(self):
        """Ask the server to stop, as an operator or a restart would."""
        self._end(signal.SIGTERM)

    def kill(self):
        """Kill the server and all its workers at once, as a power cut would."""
        self._end(signal.SIGKILL)

    def _end(self, sig):
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self.process = None

    def request(self, method, path, body=None, headers=None):
        """`(status, json body)` of one request to this server."""
        return request(self.base, path, body, method, headers)

    def get(self, path):
        """The JSON body of a GET that must succeed."""
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def post(self, path, body=None, headers=None):
        """The JSON body of a POST that must succeed."""
        status, answer = self.request("POST", path, body, headers)
        assert status in (200, 201), (path, status, answer)
        return answer

    def put(self, path, body):
        """The JSON body of a PUT that must succeed."""
        status, answer = self.request("PUT", path, body)
        assert status == 200, (path, status, answer)
        return answer
