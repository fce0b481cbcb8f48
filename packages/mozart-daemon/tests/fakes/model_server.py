"""A fake HTTP model server on 127.0.0.1: the Anthropic messages API and Ollama /api/generate.

A prompt containing ``FAKE_MODE=<mode>`` chooses the reply: ``rate_limit`` (429 with
Retry-After), ``overloaded`` (529), ``server_error`` (500), ``echo_key`` (400 repeating the
key), ``slow`` (sleeps 5 s); otherwise a reply that echoes the prompt's first line. Every
request is recorded (path, headers, body).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ModelServer:
    api_key: str
    requests: list[Recorded] = field(default_factory=list)
    models: tuple[str, ...] = ("llama3.1", "tiny")
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ModelServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                owner.requests.append(
                    Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                if self.path == "/v1/messages":
                    owner.anthropic(self, body)
                elif self.path == "/api/generate":
                    owner.ollama(self, body)
                else:
                    self.reply(404, {"error": "not found"})

            def reply(self, status: int, body: dict[str, Any], **headers: str) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @staticmethod
    def mode(prompt: str) -> str:
        match = re.search(r"FAKE_MODE=(\w+)", prompt)
        return match.group(1) if match else "success"

    def anthropic(self, handler: Any, body: dict[str, Any]) -> None:
        if handler.headers.get("x-api-key") != self.api_key:
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            handler.reply(401, {"type": "error", "error": error})
            return
        prompt = str(body["messages"][0]["content"])
        mode = self.mode(prompt)
        if mode == "rate_limit":
            error = {"type": "rate_limit_error", "message": "Number of requests exceeded"}
            handler.reply(429, {"type": "error", "error": error}, retry_after="7")
        elif mode == "overloaded":
            error = {"type": "overloaded_error", "message": "Overloaded"}
            handler.reply(529, {"type": "error", "error": error})
        elif mode == "echo_key":  # a careless server that repeats the key in its error
            key = handler.headers.get("x-api-key")
            error = {"type": "invalid_request_error", "message": f"bad request for key {key}"}
            handler.reply(400, {"type": "error", "error": error})
        elif mode == "server_error":
            handler.reply(500, {"type": "error", "error": {"type": "api_error", "message": "boom"}})
        else:
            if mode == "slow":
                time.sleep(5)
            text = f"ANSWER to: {prompt.splitlines()[0]}"
            handler.reply(
                200,
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model"),
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 11, "output_tokens": 5},
                },
            )

    def ollama(self, handler: Any, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model not in self.models:
            handler.reply(404, {"error": f"model '{model}' not found"})
            return
        prompt = str(body.get("prompt", ""))
        if self.mode(prompt) == "slow":
            time.sleep(5)
        handler.reply(
            200,
            {
                "model": model,
                "created_at": "2026-01-01T00:00:00Z",
                "response": f"OLLAMA says: {prompt.splitlines()[0]}",
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 9,
                "eval_count": 4,
            },
        )
