"""`perfml demo` prints the README's `mlflow ui` command for the default home; the workers' listening socket."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from perfml.cli.serve import _shown_uri, tcp_listener


def test_mlflow_ui_command_is_relative_under_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _shown_uri(f"sqlite:///{tmp_path / 'models' / 'mlflow.db'}") == "sqlite:///models/mlflow.db"
    assert _shown_uri("sqlite:////elsewhere/mlflow.db") == "sqlite:////elsewhere/mlflow.db"
    assert _shown_uri("http://mlflow.internal:5000") == "http://mlflow.internal:5000"


def test_connections_to_the_workers_listener_get_tcp_nodelay():
    """asyncio turns Nagle off on a connection accepted from the workers' shared socket (no ~40 ms per response)."""
    listener = tcp_listener(uvicorn.Config("api.main:create_app", host="127.0.0.1", port=0).bind_socket())

    async def nodelay_of_accepted() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        async with await asyncio.start_server(on_connection, sock=listener):
            _, writer = await asyncio.open_connection(*listener.getsockname())
            try:
                return await asyncio.wait_for(accepted, timeout=10)
            finally:
                writer.close()

    assert listener.getsockname()[0] == "127.0.0.1"
    assert asyncio.run(nodelay_of_accepted()) == 1
