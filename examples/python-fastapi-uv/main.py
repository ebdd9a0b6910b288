"""A FastAPI app whose dependencies uv installs from uv.lock."""
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
def index() -> str:
    return "Hello from python-fastapi-uv\n"
