"""`tasktracker nginx-config` and `tasktracker stack up|down|status`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tasktracker.deploy.nginx import NginxConfig, render
from tasktracker.deploy.stack import Stack, StackError, StackOptions


def add_deploy_commands(commands: Any) -> None:
    nginx = commands.add_parser("nginx-config", help="print the nginx configuration")
    nginx.add_argument(
        "--upstream",
        action="append",
        required=True,
        metavar="HOST:PORT",
        help="an API replica (repeat for each)",
    )
    nginx.add_argument("--listen", default="80", help="[host:]port nginx listens on")
    nginx.add_argument(
        "--state-dir", type=Path, help="pid, temp files and logs here (nginx run as a user process)"
    )
    nginx.set_defaults(handler=cmd_nginx_config)

    stack = commands.add_parser(
        "stack", help="the production topology on this machine: nginx, replicas, agent, services"
    )
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.set_defaults(handler=cmd_stack)


def cmd_nginx_config(args: argparse.Namespace) -> int:
    config = NginxConfig(tuple(args.upstream), listen=args.listen, state_dir=args.state_dir)
    print(render(config), end="")
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    stack = Stack(StackOptions.from_env())
    try:
        if args.action == "up":
            url = stack.up()
            print(f"TaskTracker stack: {url}/  docs: {url}/docs/  (logs: {stack.log_dir})")
        elif args.action == "down":
            stopped = stack.down()
            print(f"TaskTracker stack stopped: {', '.join(stopped) or 'nothing was running'}")
        else:
            for record in stack.processes():
                state = "running" if record.name in stack.running() else "gone"
                print(f"{record.name:10} pid {record.pid:<8} {state}")
    except StackError as exc:
        print(f"tasktracker: {exc}")
        return 1
    return 0
