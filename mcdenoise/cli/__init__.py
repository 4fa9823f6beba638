"""The `mcdenoise` command line: one module per subcommand (its options, help and `run`).

User mistakes print one line and exit 2; --verbose adds details.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mcdenoise import __version__
from mcdenoise.cli import denoise, export, fit, info, model, render, serve
from mcdenoise.cli import eval as eval_
from mcdenoise.cli.common import EXIT_USER_ERROR, log, setup_logging
from mcdenoise.errors import McDenoiseError

COMMANDS = (info, render, fit, denoise, export, eval_, serve, model)  # in `mcdenoise --help` order


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mcdenoise",
        description="Noise2Noise Monte Carlo render denoiser: denoise EXRs, fit models on noisy renders, render training scenes.",
        epilog="Run 'mcdenoise COMMAND --help' for examples.",
    )
    parser.add_argument("--version", action="version", version=f"mcdenoise {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show details and tracebacks")
    # -v also after the command (`mcdenoise denoise -v ...`); SUPPRESS keeps a leading -v from being reset.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show details and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_parser = sub.add_parser
    # Every subcommand: the common options, and epilogs (examples) printed as written.
    sub.add_parser = lambda *a, **k: _add_parser(  # type: ignore[method-assign]
        *a, parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter, **k)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mcdenoise` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except McDenoiseError as exc:
        if args.verbose:
            log.exception("details")
        print(f"mcdenoise: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("mcdenoise: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # disk full, permissions: the user's environment, not a bug
        if args.verbose:
            log.exception("details")
        print(f"mcdenoise: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())