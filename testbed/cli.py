"""The ``testbed`` command line: catalogues, spec validation, sweeps, results, reports and benchmarks.

Every heavy import (pandas, rich, joblib, dask, cvxpy, matplotlib) happens
inside the command that needs it, so ``testbed --help`` answers at once.
User errors (a bad spec, an unknown name, a missing file) print one line on
stderr -- every line of a spec's error list -- and exit with code 2; no
traceback unless ``--debug``. ``testbed run`` exits 1 when some runs ended
with status "error" (the others are kept), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["main"]

EXIT_OK, EXIT_RUN_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _UsageError(Exception):
    """A command-line usage error (argparse's, as one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


def _err(text: str) -> None:
    print(f"testbed: error: {text}", file=sys.stderr)


def _user_errors() -> tuple[type[BaseException], ...]:
    from problems.errors import UserInputError

    return (UserInputError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def _solver_errors() -> tuple[type[BaseException], ...]:
    from problems.errors import SolverError

    return (SolverError,)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc)


# ------------------------------------------------------------------ catalogues
def _fmt_default(value: Any) -> str:
    return "required" if value is None else repr(value)


def _print_block(title: str, lines: list[tuple[str, Any]]) -> None:
    print(title)
    for key, value in lines:
        if value not in (None, "", {}):
            print(f"    {key:<16}{value}")
    print()


def cmd_problems(args: argparse.Namespace) -> int:
    """The problem families: parameters and defaults, convexity, L, mu, how f* is obtained."""
    import problems

    names = args.names or problems.available()
    entries = [problems.describe(n) for n in names]
    if args.json:
        print(json.dumps(entries, indent=1, default=repr))
        return EXIT_OK
    for e in entries:
        params = ", ".join(f"{k}={v!r}" for k, v in e["parameters"].items()) or "none"
        _print_block(
            f"{e['name']} -- {e['summary']}",
            [("parameters", params), ("convex", e.get("convex")), ("L", e.get("L")), ("mu", e.get("mu")),
             ("f*", e.get("f_star"))],
        )
    return EXIT_OK


def cmd_optimizers(args: argparse.Namespace) -> int:
    """The optimizers: hyperparameters with defaults, source (paper or torch class), kind."""
    from testbed import optimizers

    names = args.names or optimizers.available()
    entries = [optimizers.describe(n) for n in names]
    if args.json:
        print(json.dumps(entries, indent=1, default=repr))
        return EXIT_OK
    for e in entries:
        hps = ", ".join(f"{k}={v!r}" for k, v in e["hyperparameters"].items()) or "none"
        _print_block(
            f"{e['name']} -- {e['summary']}",
            [("hyperparameters", hps), ("source", e.get("source")), ("kind", e.get("kind"))],
        )
    return EXIT_OK


def _parse_iters(text: str) -> list[int]:
    """``"1..20"`` (inclusive), ``"5"`` or ``"1,2,5"``."""
    from problems.errors import UserInputError

    try:
        if ".." in text:
            lo, hi = (int(p) for p in text.split("..", 1))
            values = list(range(lo, hi + 1))
        else:
            values = [int(p) for p in text.split(",")]
    except ValueError:
        raise UserInputError(f"--iters: must look like 1..20, 10 or 1,2,5, got {text!r}") from None
    if not values or min(values) < 1:
        raise UserInputError(f"--iters: iteration counts must be >= 1, got {text!r}")
    return values


def cmd_bounds(args: argparse.Namespace) -> int:
    """The bound catalogue, or (``--pep METHOD``) the PEP worst case next to the tight and textbook bounds."""
    from testbed import theory

    if args.pep is not None:
        from testbed.theory import pep

        iters = _parse_iters(args.iters)
        table = pep.compare_table(args.pep, iters, step=args.step, L=args.L, R=args.R, momentum=args.momentum)
        print(table.to_json(orient="records", indent=1) if args.json else table.to_string(index=False))
        return EXIT_OK
    df = theory.bounds()
    if args.json:
        print(df.to_json(orient="records", indent=1))
        return EXIT_OK
    for row in df.to_dict(orient="records"):
        _print_block(
            f"{row['name']} -- {row.get('statement', '')}",
            [(k, row.get(k)) for k in ("source", "assumptions", "applies_to")],
        )
    return EXIT_OK


# ------------------------------------------------------------------ specs and sweeps
def cmd_validate(args: argparse.Namespace) -> int:
    """Parse and validate a spec (including the dry build of every problem and optimizer)."""
    from testbed.sweep import load_spec, output_dir, plan_runs

    spec = load_spec(args.spec)
    n_problems = sum(e.size() for e in spec.problems)
    n_configs = sum(e.size() for e in spec.optimizers)
    runs = plan_runs(spec)
    restricted = any(o.only is not None for o in spec.optimizers)
    shape = "at most " if restricted else ""
    print(
        f"{args.spec}: OK -- {len(runs)} runs = {shape}{n_problems} problem instances x {n_configs} optimizer"
        f" configurations x {len(spec.seeds)} seeds"
        + (" (some optimizers run only on the problems they name)" if restricted else "")
        + f"; results go to {output_dir(spec, args.out)}"
    )
    return EXIT_OK


def _print_summary(out_dir: Any, title: str, max_rows: int | None) -> Any:
    from testbed.storage import load_runs
    from testbed.sweep.progress import print_table, summary_table

    runs = load_runs(out_dir)
    print_table(summary_table(runs, title=title, max_rows=max_rows))
    return runs


def _check_target(target: float | None) -> float | None:
    """``--target``: a relative target in (0, 1), or None (the report's default)."""
    if target is None:
        return None
    from problems._validate import check_float

    return check_float("--target", target, low=0.0, high=1.0, low_open=True, high_open=True)


def _write_report(out_dir: Any, debug: bool, target: float | None = None) -> int:
    try:
        from testbed.report import write_report
    except ImportError as exc:
        if debug:
            raise
        _err(f"no report written: testbed.report is not available ({exc})")
        return EXIT_RUN_ERRORS
    path = write_report(out_dir) if target is None else write_report(out_dir, target=target)
    print(f"report: {path}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run a spec's sweep, print a summary and (unless --no-report) write the report."""
    from testbed.sweep import load_spec, run_sweep

    spec = load_spec(args.spec)
    target = _check_target(args.target)
    if args.jobs is not None and args.jobs < 1 and args.jobs != -1:
        from problems.errors import UserInputError

        raise UserInputError(f"-j/--jobs: must be >= 1 (or -1 for all cores), got {args.jobs}")
    try:
        outcome = run_sweep(
            spec, args.out, n_jobs=args.jobs, scheduler=args.dask_scheduler, force=args.force, quiet=args.quiet
        )
    except KeyboardInterrupt:
        print("testbed: interrupted; finished runs are kept, run the same command again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.statuses.items()))
    if not args.quiet:
        _print_summary(outcome.out_dir, f"{spec.name}: {outcome.total} runs", max_rows=40)
    print(
        f"{spec.name}: {outcome.executed} runs executed, {outcome.skipped} already finished"
        f" ({counts}) in {outcome.seconds:.1f} s -> {outcome.out_dir}"
    )
    code = EXIT_OK
    if outcome.failures:
        print(f"testbed: {len(outcome.failures)} runs failed:", file=sys.stderr)
        for run_id, message in outcome.failures[:10]:
            print(f"  {run_id}: {message}", file=sys.stderr)
        if len(outcome.failures) > 10:
            print(f"  ... and {len(outcome.failures) - 10} more (see `testbed results`)", file=sys.stderr)
        code = EXIT_RUN_ERRORS
    if not args.no_report:
        code = max(code, _write_report(outcome.out_dir, args.debug, target))
    return code


def cmd_results(args: argparse.Namespace) -> int:
    """The summary table of a results directory."""
    from testbed.storage import load_manifest

    manifest = load_manifest(args.dir)
    runs = _print_summary(args.dir, f"{manifest.get('experiment', '')}", max_rows=None)
    planned = manifest.get("n_runs", len(manifest.get("runs", {})))
    counts = runs["status"].value_counts().to_dict() if len(runs) else {}
    shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
    print(f"{len(runs)} of {planned} runs finished ({shown})")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report of a results directory."""
    from testbed.storage import load_manifest

    load_manifest(args.dir)
    return _write_report(args.dir, args.debug, _check_target(args.target))


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmarks (``testbed.bench``)."""
    try:
        from testbed import bench
    except ImportError as exc:
        if args.debug:
            raise
        _err(f"benchmarks are not available: {exc}")
        return EXIT_RUN_ERRORS
    result = bench.main(list(args.bench_args))
    return int(result or 0)


# ------------------------------------------------------------------ the parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``testbed`` (one subcommand per task, each with its own --help)."""
    parser = _Parser(
        prog="testbed",
        description="Optimizer benchmarking and convergence-theory testbed.",
        epilog="Spec grammar: experiments/README.md. Exit codes: 0 ok, 1 some runs failed, 2 user error.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    from testbed.environment import package_version

    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version('optim-testbed')}")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("problems", parents=[common], help="list problem families", description=cmd_problems.__doc__)
    p.add_argument("names", nargs="*", metavar="NAME", help="only these families")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_problems)

    p = sub.add_parser("optimizers", parents=[common], help="list optimizers", description=cmd_optimizers.__doc__)
    p.add_argument("names", nargs="*", metavar="NAME", help="only these optimizers")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_optimizers)

    p = sub.add_parser("bounds", parents=[common], help="list convergence bounds / PEP tables",
                       description=cmd_bounds.__doc__)
    p.add_argument("--pep", metavar="METHOD", help="compare with the PEP worst case of METHOD (e.g. gd)")
    p.add_argument("--iters", default="1..10", metavar="RANGE", help="iteration counts: 1..20, 10 or 1,2,5")
    p.add_argument("--L", type=float, default=1.0, help="smoothness constant for --pep (default 1)")
    p.add_argument("--step", type=float, default=1.0, help="step size in units of 1/L for --pep (default 1)")
    p.add_argument("--R", type=float, default=1.0, help="initial distance ||x0 - x*|| for --pep (default 1)")
    p.add_argument("--momentum", type=float, default=None, help="momentum parameter for --pep heavy_ball")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_bounds)

    p = sub.add_parser("validate", parents=[common], help="check a spec without running it",
                       description=cmd_validate.__doc__)
    p.add_argument("spec", metavar="SPEC", help="the spec file (TOML)")
    p.add_argument("--out", metavar="DIR", help="output directory the run would use")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", parents=[common], help="run a spec's sweep", description=cmd_run.__doc__)
    p.add_argument("spec", metavar="SPEC", help="the spec file (TOML)")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="local worker processes (default: all cores)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS", help="run on a dask.distributed cluster (shared filesystem)")
    p.add_argument("--force", action="store_true", help="rerun runs that already finished")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    p.add_argument("--out", metavar="DIR", help="output directory (default: reports/<experiment name>)")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--target", type=float, default=None, metavar="T",
                   help="relative target of the report: target gap T·(f(x0) − f_ref) (default 1e-3)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("results", parents=[common], help="summary table of a results directory",
                       description=cmd_results.__doc__)
    p.add_argument("dir", metavar="DIR", help="a results directory (reports/<experiment>)")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("report", parents=[common], help="write the report of a results directory",
                       description=cmd_report.__doc__)
    p.add_argument("dir", metavar="DIR", help="a results directory (reports/<experiment>)")
    p.add_argument("--target", type=float, default=None, metavar="T",
                   help="relative target: target gap T·(f(x0) − f_ref) (default 1e-3)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("bench", help="run the benchmarks (arguments go to the benchmark runner)",
                       description=cmd_bench.__doc__, add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments for the benchmark runner")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``testbed`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    debug = "--debug" in argv
    try:
        lead = [a for a in argv[:2] if a == "--debug"]
        if argv[len(lead) : len(lead) + 1] == ["bench"]:  # everything after `bench` belongs to the benchmarks
            args = argparse.Namespace(command="bench", func=cmd_bench, bench_args=argv[len(lead) + 1 :])
        else:
            args = parser.parse_args(argv)
    except _UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.debug = getattr(args, "debug", False) or debug
    try:
        return args.func(args)
    except _user_errors() as exc:
        if args.debug:
            raise
        _err(_one_line(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("testbed: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _solver_errors() as exc:
        # Not the user's fault, but not a bug to dump a traceback for either: a solver did not certify its answer.
        if args.debug:
            raise
        _err(_one_line(exc))
        return EXIT_RUN_ERRORS
    except BrokenPipeError:
        # The reader went away (`testbed problems | head`): not an error of ours; silence the final flush too.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
