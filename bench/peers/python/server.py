"""python-socketio peer for the sockio benchmark (BENCH-SERVER.md).

ASGI app served by uvicorn on 127.0.0.1:$PORT, path /socket.io/, default
settings, no access log and no per-message logging.
"""
import os

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", logger=False, engineio_logger=False)
app = socketio.ASGIApp(sio, socketio_path="socket.io")


@sio.on("echo")
async def echo(sid, *args):
    return args if len(args) != 1 else args[0]


@sio.on("join")
async def join(sid, room):
    await sio.enter_room(sid, room)
    return "ok"


@sio.on("bcast")
async def bcast(sid, payload):
    await sio.emit("msg", payload, room="bench")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "3000")),
                log_level="warning", access_log=False, ws_per_message_deflate=False)
