"""WSGI entry point: `gunicorn -k gthread wsgi:app`, `flask --app wsgi ...`."""

from web import create_app

app = create_app()
