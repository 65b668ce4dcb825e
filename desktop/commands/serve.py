"""``parley serve``: an OpenAI-compatible API for other programs on this machine.

    parley serve                   http://127.0.0.1:8765/v1, token required
    parley serve --show-token      print the token and exit
    parley serve --no-auth         no token (refused unless the address is loopback)
    parley serve --wyoming         Wyoming services (asr, tts, handle) for Home Assistant,
                                   tcp://127.0.0.1:10300; --host ADDRESS needs --allow CLIENT

The token lives in the config folder (``serve-token``, mode 600), made on the
first start and kept, so clients configured once keep working.
"""

from __future__ import annotations

import argparse
import signal
import sys

from desktop.config import load_settings
from desktop.engine.loading import load_assistant
from desktop.errors import ParleyError
from desktop.serve import auth
from desktop.serve.server import ParleyServer, ServeOptions


def add_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="serve the models over an OpenAI-compatible HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=None, help="port to listen on (8765; 10300 with --wyoming)"
    )
    serve.add_argument(
        "--wyoming",
        action="store_true",
        help="serve speech recognition, the voice and the assistant over Wyoming",
    )
    serve.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="with --wyoming on a non-loopback --host: a client address allowed to connect",
    )
    serve.add_argument("--show-token", action="store_true", help="print the API token and exit")
    serve.add_argument(
        "--no-auth", action="store_true", help="no token needed (only on a loopback address)"
    )
    serve.add_argument("--model", metavar="PATH.gguf", help="use this chat model")


def run_serve(args: argparse.Namespace) -> int:
    if args.wyoming:
        return run_wyoming(args)
    if args.port is None:
        args.port = 8765
    if args.show_token:
        print(auth.load_or_create_token())
        return 0
    # Refuse a bad combination before any model loads or any port listens.
    if args.no_auth:
        auth.check_no_auth_allowed(args.host)
        token = None
    else:
        token = auth.load_or_create_token()
    if not 0 <= args.port <= 65535:
        raise ParleyError(f"--port must be from 0 to 65535, not {args.port}")
    settings = load_settings()

    def progress(message: str) -> None:
        print(f"parley: {message}", file=sys.stderr, flush=True)

    # Bound at once, so a taken port fails before the slow model loading; listening
    # starts when the models are warm, so the first client is not kept waiting.
    options = ServeOptions(host=args.host, port=args.port, token=token)
    server = ParleyServer(None, options, activate=False)
    try:
        assistant = load_assistant(settings, llm_path=args.model, progress=progress)
        server.attach(assistant)
        server.activate()
        print(f"parley: serving the OpenAI API at {server.url}", flush=True)
        if token is None:
            print("parley: no token needed (--no-auth, this machine only)", flush=True)
        else:
            print(
                f"parley: API token in {auth.token_path()} (parley serve --show-token prints it)",
                flush=True,
            )
        print(f"parley: models: {', '.join(server.model_ids.values())}", flush=True)
        print("parley: Ctrl-C stops the server", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("parley: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def run_wyoming(args: argparse.Namespace) -> int:
    """Wyoming services: refuse a bad address before any model loads."""
    from desktop.serve.wyoming_server import (
        DEFAULT_PORT,
        WyomingOptions,
        WyomingServer,
        check_exposure,
    )

    port = DEFAULT_PORT if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise ParleyError(f"--port must be from 0 to 65535, not {port}")
    check_exposure(args.host, tuple(args.allow))
    settings = load_settings()
    assistant = load_assistant(
        settings,
        llm_path=args.model,
        progress=lambda m: print(f"parley: {m}", file=sys.stderr, flush=True),
    )
    server = WyomingServer(assistant, WyomingOptions(args.host, port, tuple(args.allow)))
    server.on_ready = lambda bound: print(
        f"parley: serving Wyoming (asr, tts, handle) at tcp://{args.host}:{bound}", flush=True
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: server.stop())
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise ParleyError(
            f"cannot listen on {args.host}:{port}: {exc.strerror or exc}",
            "is another Wyoming server using that port? pick another with --port",
        ) from exc
    print("parley: stopped", file=sys.stderr)
    return 0
