"""`python -m backend`: the development server, honouring HOST and PORT."""

import os
import sys

from .app import create_app
from .errors import StartupError


def main():
    """Serve the API and the dashboard with Flask's development server.

    A setting or a database file it cannot use ends start-up with one line on stderr, naming
    what to fix, and exit status 1 (as gunicorn does with the same message).
    """
    try:
        app = create_app()
    except StartupError as failure:
        print(f"Error: {failure}", file=sys.stderr)
        return 1
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
