"""Parse container commands with vLLM's own `vllm serve` argument parser.

Run with the interpreter that has vLLM installed (.venv-vllm/bin/python). Reads a JSON list of
argument lists on stdin, each exactly as a container would run it (["vllm", "serve", ...], with
Kubernetes' `$(VAR)` references already expanded), and prints one JSON result per list:

    {"ok": bool, "error": str | null, "deprecated": [flag, ...], "quantization": str | null,
     "headless": bool, "kv_cache_dtype": str | null, "enable_expert_parallel": bool,
     "api_server_count": int | null}

A list fails ("ok": false) when its entry point is not `vllm serve`, when the parser rejects it
(unknown flag, bad value or choice), when vLLM's serve-time argument checks reject it, when its
--quantization is not a method vLLM knows (the engine refuses it at startup), when its
--api-server-count comes with --headless or is below 1 (`vllm serve` refuses the one and serves no
HTTP with the other), or when it uses a flag or a quantization method this vLLM marks deprecated.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys


def _parser():
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    top = FlexibleArgumentParser(prog="vllm")
    sub = top.add_subparsers(dest="subparser")
    serve = ServeSubcommand()
    serve_parser = serve.subparser_init(sub)
    return top, serve, serve_parser


def _deprecated_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Actions vLLM marks deprecated: `deprecated=True` (argparse 3.13 or vLLM's own bookkeeping on
    older Pythons), a Deprecated*Action class that warns when used, or help text that says
    "<flag> is deprecated" (how vLLM 0.32 retires --disable-cascade-attn)."""
    tracked = set(getattr(parser, "_deprecated", set()))
    return [a for a in parser._actions
            if a in tracked or getattr(a, "deprecated", False) or type(a).__name__.startswith("Deprecated")
            or any(f"{flag} is deprecated" in (a.help or "") for flag in a.option_strings)]


def check(argv: list[str], top, serve, serve_parser) -> dict:
    from vllm.model_executor.layers.quantization import DEPRECATED_QUANTIZATION_METHODS, QUANTIZATION_METHODS

    out = {"ok": False, "error": None, "deprecated": [], "quantization": None, "headless": False,
           "kv_cache_dtype": None, "enable_expert_parallel": False, "api_server_count": None}
    if argv[:2] != ["vllm", "serve"]:
        out["error"] = f"entry point {argv[:3]} is not `vllm serve`"
        return out
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = top.parse_args(argv[1:])
    except SystemExit:
        out["error"] = stderr.getvalue().strip().splitlines()[-1] if stderr.getvalue().strip() else "parser exit"
        return out
    try:
        serve.validate(args)
    except Exception as e:  # noqa: BLE001 - vLLM's own checks raise TypeError/ValueError
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    given = {tok.split("=", 1)[0] for tok in argv[2:] if tok.startswith("-")}
    for action in _deprecated_actions(serve_parser):
        if given & set(action.option_strings):
            out["deprecated"].append(action.option_strings[0])
    out["quantization"] = args.quantization
    out["headless"] = bool(args.headless)
    out["kv_cache_dtype"] = args.kv_cache_dtype
    out["enable_expert_parallel"] = bool(args.enable_expert_parallel)
    out["api_server_count"] = args.api_server_count   # None: not given (vLLM then runs one per DP rank)
    if args.api_server_count is not None and (args.headless or args.api_server_count < 1):
        # vllm/entrypoints/cli/serve.py (ServeSubcommand.cmd) refuses a count with --headless at startup,
        # and a count below 1 without it starts no HTTP server at all (run_headless).
        out["error"] = (f"--api-server-count={args.api_server_count}: "
                        + ("not allowed with --headless" if args.headless else "below 1 starts no API server"))
        return out
    if args.quantization is not None and args.quantization not in QUANTIZATION_METHODS:
        # The parser takes any string; the engine refuses an unknown method at startup.
        out["error"] = f"--quantization={args.quantization}: not one of vLLM's methods"
        return out
    if args.quantization in DEPRECATED_QUANTIZATION_METHODS:
        out["deprecated"].append(f"--quantization={args.quantization}")
    if out["deprecated"]:
        out["error"] = "deprecated: " + ", ".join(out["deprecated"])
        return out
    out["ok"] = True
    return out


def main() -> int:
    commands = json.load(sys.stdin)
    top, serve, serve_parser = _parser()
    print(json.dumps([check(list(argv), top, serve, serve_parser) for argv in commands]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
