"""`python -m backend`: the development server, honouring HOST and PORT."""

import os

from .app import create_app


def main():
    """Serve the API and the dashboard with Flask's development server."""
    app = create_app()
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))


if __name__ == "__main__":
    main()
