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
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "backend.app:create_app()"]
DEV_SERVER = [sys.executable, "-m", "backend"]


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
        return error.code, json.loads(error.read())


class Server:
    """One server process on a fixed port and database file; it can be restarted on both."""

    def __init__(self, database_path, command=GUNICORN, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = command
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port),
                    "DATABASE_PATH": str(database_path), "SEED_IF_EMPTY": "0", **env}
        self.process = None

    def start(self, deadline_s=30):
        """Start the process and return once `/health` answers."""
        self.process = subprocess.Popen(self.command, cwd=REPO_ROOT, env=self.env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.process.stdout.read()}")
            try:
                if request(self.base, "/health")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.05)  # the port is not listening yet
        raise AssertionError("server did not become healthy")

    def stop(self):
        """Ask the server to stop, as an operator would."""
        self._end(signal.SIGTERM)

    def kill(self):
        """Kill the server and all its workers at once, as a power cut would."""
        self._end(signal.SIGKILL)

    def _end(self, sig):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)
        self.process.stdout.close()
