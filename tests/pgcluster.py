"""A throwaway PostgreSQL cluster for the tests: made in a temporary folder, listening on a free
port of 127.0.0.1, run by an unprivileged user, and removed afterwards.

It uses the Debian package's programs (`/usr/lib/postgresql/<version>/bin`); `.ci/run` installs
it. PostgreSQL refuses to run as root, so when the tests run as root the cluster is run by the
system user `nobody`, which owns its folder.

The server keeps its durable settings (`fsync`, `synchronous_commit`, `full_page_writes` on), as
production would: a test that an acknowledged event survives must test that. Only `initdb`
skips syncing the new cluster's files, which nothing depends on.
"""

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile

from backend import db

from .servers import free_port

UNPRIVILEGED_USER = "nobody"
SUPERUSER = "postgres"


class ClusterUnavailable(RuntimeError):
    """PostgreSQL's programs are not installed, or the cluster did not start."""


def find_bin_dir():
    """The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`."""
    found = [path for path in glob.glob("/usr/lib/postgresql/*/bin")
             if os.access(os.path.join(path, "initdb"), os.X_OK) and os.access(os.path.join(path, "pg_ctl"), os.X_OK)]
    if not found:
        raise ClusterUnavailable("PostgreSQL is not installed: no initdb and pg_ctl under /usr/lib/postgresql/*/bin. "
                                 "Install the Debian package `postgresql` (.ci/run does) to run the PostgreSQL tests.")
    return max(found, key=lambda path: int(path.split("/")[-2].split(".")[0]))


class Cluster:
    """One cluster; `database()` hands out a fresh database with the service's schema. As a
    context manager (`with Cluster() as cluster`) it is started and removed around the block.

    `parent` is the folder its own folder is made in (default: the system's temporary folder).
    Run as root, the cluster's user could not reach into a folder private to root, so its folder
    is always made in the system's temporary folder then.
    """

    def __init__(self, parent=None):
        self.bin_dir = find_bin_dir()
        if os.geteuid() == 0:
            parent = None
        if parent is not None:
            os.makedirs(parent, exist_ok=True)
        self.folder = tempfile.mkdtemp(prefix="factory-pg-", dir=parent)
        self.data = os.path.join(self.folder, "data")
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", UNPRIVILEGED_USER, "--"]
        os.chmod(self.folder, 0o700)
        self.numbers = itertools.count(1)
        self.template = None
        self.first_rows = {}  # table -> the rows a new database holds
        self.free = []  # names of emptied databases to hand out again

    def url(self, name):
        """The URL of database `name` on this cluster."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def _run(self, program, *args, timeout=60):
        command = [*self.as_user, os.path.join(self.bin_dir, program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.folder)
        if done.returncode != 0:
            output = done.stdout[-2000:] + done.stderr[-2000:]
            raise ClusterUnavailable(f"{program} failed ({done.returncode}): {output}")
        return done

    def start(self):
        """Make the cluster, start it and load the schema into the template every database is made from."""
        self._run("initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C",
                  "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} "
                   "-c max_connections=300 -c shared_buffers=64MB -c log_min_messages=warning")
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.folder, "server.log"), "-o", options,
                  "-w", "-t", "60", "start", timeout=90)
        self.template = "factory_template"
        self.execute(f"CREATE DATABASE {self.template}")
        db.init_db(self.url(self.template))
        self.first_rows = self._read_first_rows()
        return self

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc):
        self.stop()

    def create_database(self, name):
        """The URL of a new database `name` holding the service's schema and nothing else."""
        self.execute(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        return self.url(name)

    def execute(self, sql):
        """Run one statement in the `postgres` database, outside any transaction."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def database(self):
        """The URL of a database holding the service's schema and nothing else.

        Databases are used again: making one from the template and dropping it costs about a
        second of syncing, while emptying a used one costs milliseconds. Each URL handed out is
        new all the same (its `application_name`), so nothing a process keeps per database
        outlives a test.
        """
        name = self.free.pop() if self.free else self._create()
        return f"{self.url(name)}?application_name=test-{next(self.numbers)}"

    def _create(self):
        name = f"factory_{next(self.numbers)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        return name

    def release(self, url):
        """Give back a database `database()` handed out: emptied to its first rows, or dropped
        when something still holds it."""
        import psycopg

        name = url.split("?")[0].rsplit("/", 1)[1]
        try:
            with psycopg.connect(self.url(name), autocommit=True) as conn:
                conn.execute("SET lock_timeout = '2s'")
                with conn.transaction():
                    conn.execute("SET LOCAL session_replication_role = replica")  # no foreign-key order
                    for table, rows in self.first_rows.items():
                        conn.execute(f"DELETE FROM {table}")
                        for row in rows:
                            conn.execute(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(row))})", row)
                    sequences = conn.execute("SELECT schemaname || '.' || sequencename FROM pg_sequences")
                    for (sequence,) in sequences.fetchall():
                        conn.execute("SELECT setval(%s, 1, false)", (sequence,))
        except psycopg.Error:
            self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            return
        self.free.append(name)

    def _read_first_rows(self):
        import psycopg

        with psycopg.connect(self.url(self.template)) as conn:
            tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            return {table: conn.execute(f"SELECT * FROM {table}").fetchall() for table in tables}

    def stop(self):
        """Stop the server at once and remove its folder."""
        try:
            if os.path.exists(os.path.join(self.data, "postmaster.pid")):
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def log(self):
        """The server's log so far."""
        try:
            with open(os.path.join(self.folder, "server.log")) as log:
                return log.read()
        except OSError:
            return ""
