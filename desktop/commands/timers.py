"""``parley timers``: the timers and reminders set by voice, and cancelling one.

parley timers [list] [--json]   pending, soonest first
parley timers cancel ID
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

from desktop.commands.common import print_json
from desktop.engine.skills.spoken_time import say_duration
from desktop.engine.skills.timers import TimerStore
from desktop.errors import ParleyError


def add_parser(commands: argparse._SubParsersAction) -> None:
    timers = commands.add_parser("timers", help="timers and reminders set by voice")
    actions = timers.add_subparsers(dest="timers_action", metavar="ACTION")
    listing = actions.add_parser("list", help="pending timers and reminders (the default)")
    for parser in (timers, listing):
        parser.add_argument("--json", action="store_true", help="print JSON")
    cancel = actions.add_parser("cancel", help="cancel a timer or reminder")
    cancel.add_argument("id", type=int)


def run_timers(args: argparse.Namespace) -> int:
    store = TimerStore()
    if args.timers_action == "cancel":
        if not store.cancel(args.id):
            raise ParleyError(f"there is no pending timer {args.id}", "see `parley timers`")
        print(f"cancelled timer {args.id}")
        return 0
    timers = store.pending()
    now = time.time()
    if args.json:
        print_json([{**asdict(t), "left_s": round(t.left(now), 1)} for t in timers])
        return 0
    if not timers:
        print("No timers or reminders. Say “set a timer for ten minutes” to Parley.")
        return 0
    for timer in timers:
        due = time.strftime("%H:%M:%S", time.localtime(timer.due))
        device = f"  on {timer.device}" if timer.device else ""
        print(
            f"{timer.id:>4}  {timer.title}  due {due}, in {say_duration(timer.left(now))}{device}"
        )
    return 0
