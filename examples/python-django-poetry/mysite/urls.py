from django.db import connection
from django.http import HttpResponse
from django.urls import path


def index(request):
    # django_migrations exists only if `migrate` ran on this container's
    # sqlite file: the release phase runs it in a container of its own, so
    # here it is False (settings.py).
    migrated = "django_migrations" in connection.introspection.table_names()
    return HttpResponse(
        f"Hello from python-django-poetry (migrated: {migrated})\n",
        content_type="text/plain",
    )


urlpatterns = [path("", index)]
