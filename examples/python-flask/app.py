"""A Flask app with PyPI dependencies: served by gunicorn in production."""
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    server = os.environ.get("SERVER_SOFTWARE", "")
    return f"Hello from python-flask ({server.split('/')[0] or 'wsgi'})\n"


if __name__ == "__main__":
    # Development only: the platform runs gunicorn app:app instead.
    app.run(port=int(os.environ.get("PORT", "5000")))
