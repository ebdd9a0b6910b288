import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
]
MIDDLEWARE = []
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
# The container's root file system is read-only: the database lives in /tmp.
# That file is the container's own: the release phase (`manage.py migrate`,
# which app-deployer runs once per release in a container of its own)
# migrates its own copy, not the web containers'.  A real app sets a
# database every container shares (DATABASES from a DATABASE_URL).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SQLITE_PATH", "/tmp/db.sqlite3"),
    }
}
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
USE_TZ = True
STATICFILES_DIRS = [BASE_DIR / "static"]
