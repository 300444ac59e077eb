"""``veo simulator``: run the simulator (Flow and the Gemini API) as its own process until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, TextIO

from veo_simulator.app import Simulator
from veo_simulator.config import CONTRACTS, GEMINI_MODELS, GEMINI_RPM, REALISTIC_RENDER_S, VIDEO_SIZE, SimulatorConfig
from veo_simulator.errors import ConfigError, SimulatorError
from veo_simulator.faults import parse_fault_spec
from veo_simulator.gemini_state import FILE_TTL_S

__all__ = ["DEFAULT_PORT", "build_parser", "config_from_args", "main", "serve"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8780


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``veo simulator``."""
    parser = argparse.ArgumentParser(
        prog="veo simulator",
        description="Imitate Google Flow's private video API and the Gemini API's Veo paths on loopback, with faults, "
        "rate limits and audit.",
    )
    add = parser.add_argument
    add("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (0: any free port; {DEFAULT_PORT})")
    add("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    add("--rate", type=float, default=10.0, help="requests allowed in any sliding second, else 429 (10; 0: no limit)")
    add("--lo", type=float, default=None, help="shortest operation duration, seconds (20)")
    add("--hi", type=float, default=None, help="longest operation duration, seconds (60)")
    low, high = REALISTIC_RENDER_S
    add("--realistic", action="store_true", help=f"render times like Flow's: --lo {low:g} --hi {high:g} unless given")
    add("--fail", type=float, default=0.0, help="probability an operation ends FAILED (0)")
    add("--faults", default="", metavar="SPEC", help='fault mix, e.g. "500=0.05,503=0.05,timeout=0.05,slow=0.1"')
    add("--seed", type=int, default=None, help="seed for durations, failures and faults")
    add("--state", default=None, metavar="FILE", help="keep operations and tokens in FILE across restarts")
    add("--require-captcha", action="store_true", help="refuse generate/upscale without a fresh reCAPTCHA token")
    add("--contract", choices=CONTRACTS, default="both", help="status-check shapes accepted (both)")
    add("--timeout-s", type=float, default=15.0, help="how long the timeout fault holds an answer (15)")
    add("--url-lag", type=float, default=0.0, help="seconds after success the media URL still answers 404 (0)")
    add("--video-size", type=int, default=VIDEO_SIZE, metavar="BYTES", help=f"bytes of every video ({VIDEO_SIZE})")
    accounts = parser.add_argument_group(
        "per-account limits",
        "An account is the user behind the bearer token (a token minted for a session cookie belongs to the "
        "cookie's account). All limits are off (0) by default. Refusals create nothing: throttles are 429 "
        "PUBLIC_ERROR_USER_REQUESTS_THROTTLED, a hard block answers every submission 429 "
        "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC until it ends, a used-up quota 429 "
        "PUBLIC_ERROR_USER_QUOTA_REACHED, a used-up model quota 429 PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED. "
        "Upscales count like generations.",
    )
    group = accounts.add_argument
    group("--account-active", type=int, default=0, metavar="N", help="generations active per account (0: no limit)")
    group("--account-gap", type=float, default=0.0, metavar="S", help="least seconds between two submissions (0)")
    group(
        "--account-throttles-before-block",
        type=int,
        default=0,
        metavar="N",
        help="throttles within --account-window that hard-block the account (0: never)",
    )
    group("--account-window", type=float, default=60.0, metavar="S", help="window counting throttles, seconds (60)")
    group("--account-block", type=float, default=600.0, metavar="S", help="hard block length, seconds (600)")
    group("--account-quota", type=int, default=0, metavar="N", help="generations allowed per account (0: no limit)")
    group(
        "--account-quota-for",
        action="append",
        default=[],
        metavar="CREDENTIAL=N",
        help="quota of one account, by its bearer token or session cookie (repeatable)",
    )
    group(
        "--model-quota",
        action="append",
        default=[],
        metavar="MODEL=N",
        help="generations of the Flow model key MODEL allowed per account, its daily quota (repeatable; none: no "
        "limit); one more is refused 429 PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED while other models go through",
    )
    group(
        "--account-credits",
        type=int,
        default=50_000,
        metavar="N",
        help="credits each account starts with (50000); generations spend them at Flow's prices, GET /v1/credits "
        "and remainingCredits answer the balance, and one the balance cannot pay is refused 429 "
        "PUBLIC_ERROR_USER_QUOTA_REACHED",
    )
    gemini = parser.add_argument_group(
        "Gemini API",
        "The same server answers the Gemini API's Veo paths (POST /v1beta/models/MODEL:predictLongRunning, "
        "GET /v1beta/models/MODEL/operations/ID, GET /v1beta/files/FILE:download?alt=media, which redirects to "
        "a keyless storage URL), with the key in x-goog-api-key or ?key=. Operations take --lo/--hi seconds; "
        "[fail] in the prompt ends one with an error, [unsafe] safety-filtered. Files expire like Google's.",
    )
    option = gemini.add_argument
    option(
        "--gemini-key",
        action="append",
        default=[],
        metavar="KEY",
        help="an API key the simulator accepts (repeatable; none: every key is invalid)",
    )
    option(
        "--gemini-rpm",
        type=int,
        default=GEMINI_RPM,
        metavar="N",
        help=f"predictLongRunning calls per key in any sliding minute, else 429 ({GEMINI_RPM}; 0: no quota)",
    )
    option(
        "--gemini-models",
        default=",".join(GEMINI_MODELS),
        metavar="A,B",
        help="model ids served (" + ",".join(GEMINI_MODELS) + ")",
    )
    option("--gemini-fail", type=float, default=0.0, metavar="P", help="probability an operation ends in error (0)")
    option("--gemini-filtered", type=float, default=0.0, metavar="P", help="probability it is safety-filtered (0)")
    option(
        "--gemini-file-ttl",
        type=float,
        default=FILE_TTL_S,
        metavar="S",
        help=f"seconds a video stays downloadable after completion ({FILE_TTL_S:g}: 2 days)",
    )
    add("-v", "--verbose", action="store_true", help="log each injected fault and request")
    return parser


def _counts(items: Sequence[str], usage: str) -> dict[str, int]:
    """`NAME=N` items as {NAME: N}; ConfigError with `usage` for a malformed one."""
    counts: dict[str, int] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            counts[name] = int(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ConfigError(usage)
    return counts


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Settings from parsed arguments (raises ConfigError)."""
    low, high = REALISTIC_RENDER_S if args.realistic else (20.0, 60.0)
    return SimulatorConfig(
        port=args.port,
        host=args.host,
        rate=args.rate,
        lo=low if args.lo is None else args.lo,
        hi=high if args.hi is None else args.hi,
        fail=args.fail,
        faults=parse_fault_spec(args.faults).as_dict(),
        seed=args.seed,
        state_file=args.state,
        require_captcha=args.require_captcha,
        contract=args.contract,
        timeout_s=args.timeout_s,
        url_lag_s=args.url_lag,
        account_active=args.account_active,
        account_gap=args.account_gap,
        account_throttles_before_block=args.account_throttles_before_block,
        account_window=args.account_window,
        account_block=args.account_block,
        account_quota=args.account_quota,
        account_quotas=_counts(
            args.account_quota_for,
            "--account-quota-for needs CREDENTIAL=N (a bearer token or session cookie, a count)",
        ),
        model_quotas=_counts(args.model_quota, "--model-quota needs MODEL=N (a Flow model key, a count)"),
        video_size=args.video_size,
        gemini_keys=tuple(args.gemini_key),
        gemini_rpm=args.gemini_rpm,
        gemini_models=tuple(model.strip() for model in args.gemini_models.split(",") if model.strip()),
        gemini_fail=args.gemini_fail,
        gemini_filtered=args.gemini_filtered,
        gemini_file_ttl_s=args.gemini_file_ttl,
        credits=args.account_credits,
    )


def serve(config: SimulatorConfig, stop: threading.Event, out: TextIO | None = None) -> int:
    """Run a simulator until ``stop`` is set; prints its URL on a line of its own."""
    out = out if out is not None else sys.stdout
    simulator = Simulator(config)
    try:
        simulator.start()
    except (OSError, SimulatorError) as exc:
        print(f"veo simulator: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        print(simulator.url, file=out, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``veo simulator``; returns the exit code (0 stopped by a signal, 1 failed, 2 usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"veo simulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        return serve(config, stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
