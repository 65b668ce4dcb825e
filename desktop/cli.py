"""The ``parley`` command: gui (the default), ask, chat, serve, hub, self-test, models, history.

Every failure a user can cause ends as one line on stderr starting
``parley: error:`` and exit code 2; the traceback goes to the log file (and to
the terminal too with ``--debug``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from desktop import __version__, paths
from desktop.commands.common import add_remote_options
from desktop.errors import ParleyError
from desktop.native_heap import limit_arenas

log = logging.getLogger("parley")


def guard_network(command: str, args: argparse.Namespace) -> None:
    """Refuse connections off the device that no download or configured backend asked
    for (desktop/netguard.py), before any command can open one."""
    from desktop import netguard
    from desktop.config import load_settings

    try:
        settings = load_settings()
    except ParleyError:
        settings = None  # the command itself reports a broken settings file
    netguard.install("window" if command == "gui" else "cli", settings)
    if getattr(args, "remote", None):
        netguard.permit_url(args.remote, "the remote backend given with --remote")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parley", description="A private voice assistant that runs on your own device."
    )
    parser.add_argument("--version", action="version", version=f"parley {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("gui", help="open the Parley window (the default)")

    ask = commands.add_parser("ask", help="answer one question, typed or spoken")
    source = ask.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the question as text")
    source.add_argument("--audio", metavar="FILE", help="the question as a recording (WAV, FLAC…)")
    ask.add_argument("--speak", metavar="OUT.wav", help="write the spoken reply to this WAV file")
    ask.add_argument("--model", metavar="PATH.gguf", help="use this chat model")
    add_remote_options(ask)
    ask.add_argument("--json", action="store_true", help="print one JSON object")

    chat = commands.add_parser("chat", help="a conversation in the terminal")
    chat.add_argument(
        "--voice", action="store_true", help="talk: push-to-talk with Enter, replies spoken"
    )
    chat.add_argument(
        "--hands-free", action="store_true", help="listen all the time (implies --voice)"
    )
    chat.add_argument("--model", metavar="PATH.gguf", help="use this chat model")
    chat.add_argument(
        "--continue",
        dest="resume",
        type=int,
        metavar="ID",
        help="carry on a saved conversation (see parley history)",
    )
    add_remote_options(chat)

    commands.add_parser("self-test", help="check that every model loads and works")
    from desktop.commands.models import add_parser as add_models_parser

    add_models_parser(commands)
    from desktop.commands.history import add_parser as add_history_parser

    add_history_parser(commands)
    from desktop.commands.serve import add_parser as add_serve_parser

    add_serve_parser(commands)
    from desktop.commands.hub import add_parser as add_hub_parser

    add_hub_parser(commands)
    from desktop.commands.timers import add_parser as add_timers_parser

    add_timers_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from desktop.logs import setup_logging

    setup_logging(debug=args.debug)
    limit_arenas()  # before any model starts its threads
    command = args.command or "gui"
    guard_network(command, args)
    try:
        if command == "gui":
            from desktop.ui.app import run_gui

            return run_gui(debug=args.debug)
        if command == "serve":
            from desktop.commands.serve import run_serve

            return run_serve(args)
        if command == "hub":
            from desktop.commands.hub import run_hub

            return run_hub(args)
        if command == "ask":
            from desktop.commands.ask import run_ask

            return run_ask(args)
        if command == "chat":
            from desktop.commands.chat import run_chat

            return run_chat(args)
        if command == "self-test":
            from desktop.commands.selftest import run_self_test

            return run_self_test()
        if command == "models":
            from desktop.commands.models import run_models

            return run_models(args)
        if command == "history":
            from desktop.commands.history import run_history

            return run_history(args)
        if command == "timers":
            from desktop.commands.timers import run_timers

            return run_timers(args)
    except ParleyError as exc:
        log.debug("user-facing error", exc_info=True)
        print(f"parley: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("parley: stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: keep the traceback in the log, a line for the user
        log.exception("unexpected error")
        if args.debug:
            raise
        print(
            f"parley: error: unexpected {type(exc).__name__}: {exc} "
            f"(details in {paths.log_file()})",
            file=sys.stderr,
        )
        return 1
    parser.error(f"unknown command {command}")
    return 2
