from django.db import connection
from django.http import HttpResponse
from django.urls import path


def index(request):
    # django_migrations exists only if the release step ran `migrate`.
    migrated = "django_migrations" in connection.introspection.table_names()
    return HttpResponse(
        f"Hello from python-django-poetry (migrated: {migrated})\n",
        content_type="text/plain",
    )


urlpatterns = [path("", index)]
