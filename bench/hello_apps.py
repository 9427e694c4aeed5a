"""Baselines for the gateway benchmark, served by the same uvicorn as the services:
`bare_app` is a raw ASGI hello-world (the floor: uvicorn alone), `fastapi_app` adds FastAPI's
routing and JSON response (what any service endpoint pays before its own work)."""

from fastapi import FastAPI

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def bare_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


fastapi_app = FastAPI()


@fastapi_app.get("/hello")
async def hello() -> dict:
    return {"status": "ok"}
