"""The ``opsloop`` command: the offline lifecycle (run, serve), fingerprints and knowledge search."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from .local.runner import RunError, RunOptions, run

    opts = RunOptions(event=args.event, thread=args.thread, knowledge=args.knowledge, out=args.out,
                      resolve=args.resolve, reminder_seconds=args.reminder_seconds,
                      escalation_seconds=args.escalation_seconds, timeout_seconds=args.timeout,
                      faults=args.faults)
    try:
        result = run(opts)
    except RunError as exc:
        print(f"opsloop: {exc}", file=sys.stderr)
        return 2
    return 0 if result.status in ("SUCCEEDED", "NO_INCIDENT") else 1


def _serve(args: argparse.Namespace) -> int:
    from .local.runner import RunError, RunOptions
    from .local.serve import serve

    opts = RunOptions(event=args.event, thread=args.thread, knowledge=args.knowledge, out=args.out,
                      reminder_seconds=args.reminder_seconds, escalation_seconds=args.escalation_seconds,
                      timeout_seconds=args.timeout, signing_secret=args.signing_secret, faults=args.faults,
                      command="serve")
    try:
        return serve(opts, port=args.port)
    except RunError as exc:
        print(f"opsloop: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("opsloop: stopped", file=sys.stderr)
        return 130


def _fault_plan(spec: str) -> object:
    from .local.faults import FaultPlan, FaultSpecError

    try:
        return FaultPlan.parse(spec)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535; 0 picks a free one)")
    return port


def _secret(text: str) -> str:
    if not text.strip() or text != text.strip():
        raise argparse.ArgumentTypeError("the signing secret is empty or has surrounding whitespace")
    return text


def _local_options(r: argparse.ArgumentParser) -> None:
    """The options ``local run`` and ``local serve`` share."""
    r.add_argument("--event", type=Path, help="an event from events/ (CloudWatch Logs subscription, CloudWatch "
                                              "Alarm State Change, or state machine input); default: a bundled sample")
    r.add_argument("--thread", type=Path, help="JSON list of {user, text} messages discussed in the incident's thread")
    r.add_argument("--knowledge", type=Path, help="runbooks to search (default: the repository's knowledge/)")
    r.add_argument("--out", type=Path, default=Path(".opsloop"), help="out dir, kept between runs (default .opsloop)")
    r.add_argument("--reminder-seconds", type=int, default=3600, help="wait before the reminder (default 3600)")
    r.add_argument("--escalation-seconds", type=int, default=14400, help="wait after the reminder (default 14400)")
    r.add_argument("--faults", type=_fault_plan, metavar="SPEC",
                   help="inject failures: TARGET=KIND[xN][@K],... e.g. slack.chat.postMessage=429x2,"
                        "confluence.create=500,lambda.SummarizeFunction=timeout (see README)")


def _fingerprint(args: argparse.Namespace) -> int:
    from .fingerprint import run_cli

    learn = not args.masking_only
    if args.file and str(args.file) != "-":
        try:
            with open(args.file, encoding="utf-8", errors="replace") as fh:
                return run_cli(fh, sys.stdout, learn=learn)
        except FileNotFoundError:
            print(f"opsloop: file not found: {args.file}", file=sys.stderr)
            return 2
    return run_cli(sys.stdin, sys.stdout, learn=learn)


def _search(args: argparse.Namespace) -> int:
    from .errors import InputError
    from .retrieval import search_cli

    if not args.knowledge.is_dir():
        print(f"opsloop: knowledge dir not found: {args.knowledge}", file=sys.stderr)
        return 2
    try:
        if str(args.queries) == "-":
            return search_cli(args.knowledge, sys.stdin, sys.stdout, args.top)
        with open(args.queries, encoding="utf-8") as fh:
            return search_cli(args.knowledge, fh, sys.stdout, args.top)
    except FileNotFoundError:
        print(f"opsloop: queries file not found: {args.queries}", file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"opsloop: {exc}", file=sys.stderr)
        return 2


# -- opsloop doctor -----------------------------------------------------------------------------------
def _doctor(args: argparse.Namespace) -> int:
    import os

    from . import doctor

    def aws(service: str, _cache: dict[str, object] = {}) -> object:  # noqa: B006 - one client per service
        if service not in _cache:
            import boto3

            _cache[service] = boto3.client(service, region_name=args.region) if args.region else boto3.client(service)
        return _cache[service]

    try:
        if args.stack:
            config = doctor.config_from_stack(args.stack, aws("cloudformation"), aws("lambda"))
        else:
            config = doctor.config_from_env(os.environ)
    except doctor.DoctorError as exc:
        print(f"opsloop doctor: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - no credentials / region: say so, no traceback
        print(f"opsloop doctor: cannot read the configuration: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"opsloop doctor: checking the configuration from {config.source}\n")
    ctx = doctor.Context(config, aws, required_scopes=doctor.required_scopes())
    return doctor.report(doctor.run(ctx), sys.stdout)


def _add_doctor(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    d = sub.add_parser("doctor", help="check a deployed installation (Slack, Confluence, Bedrock, subscription)",
                       description="Check a deployed opsloop with the real clients: one line per check, with the "
                                   "fix; exit code 1 if any check fails.")
    d.add_argument("--stack", help="read the configuration from this CloudFormation stack (its parameters and "
                                   "its functions' environment); default: the OPSLOOP_* environment variables")
    d.add_argument("--region", help="AWS Region of the stack (default: the AWS CLI's)")
    d.set_defaults(func=_doctor)
# -- end opsloop doctor -------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opsloop", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="run opsloop on this machine, without AWS")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    r = local_sub.add_parser("run", help="run the whole incident lifecycle offline (the real state machine)")
    _local_options(r)
    r.add_argument("--resolve", choices=["auto", "prompt", "never"], default="auto",
                   help="click Resolve automatically, after Enter, or never (the reminder/escalation path)")
    r.add_argument("--timeout", type=float, default=300.0, help="stop the run after this many seconds (default 300)")
    r.set_defaults(func=_run)
    sv = local_sub.add_parser("serve", help="the offline lifecycle behind a loopback Slack endpoint: wait for a "
                                            "signed Resolve from a test or a Slack app (through a tunnel)")
    _local_options(sv)
    sv.add_argument("--port", type=_port, default=3000, help="port on 127.0.0.1 (default 3000; 0 picks a free one)")
    sv.add_argument("--signing-secret", type=_secret, metavar="S",
                    help="the Slack app's signing secret requests must be signed with (default: a new one, printed)")
    sv.add_argument("--timeout", type=float, default=0.0,
                    help="stop waiting after this many seconds (default 0: until the incident ends)")
    sv.set_defaults(func=_serve)
    f = sub.add_parser("fingerprint", help="print {fingerprint, template} for each log message (one per line), "
                                           "learning what varies across the lines as intake does for one log group")
    f.add_argument("file", nargs="?", type=Path, help="messages of one log source, one per line (default: stdin)")
    f.add_argument("--masking-only", action="store_true", help="masked fingerprints only, without the learner")
    f.set_defaults(func=_fingerprint)
    s = sub.add_parser("search", help="search a knowledge dir with JSONL queries")
    s.add_argument("--knowledge", type=Path, required=True)
    s.add_argument("--queries", type=Path, required=True, help='JSONL {"id": ..., "text": ...}; - for stdin')
    s.add_argument("--top", type=int, default=5)
    s.set_defaults(func=_search)
    _add_doctor(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
