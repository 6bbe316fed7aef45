"""``funflix plan`` (sample size and duration) and ``funflix analyze`` (verdict, report)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``plan`` and ``analyze`` subcommands."""
    p = subparsers.add_parser("plan", help="sample size per arm and duration of the A/B test",
                              description="Sample size per arm to tell a baseline CTR from a target (or MDE): "
                                          "Fleiss with continuity correction beside the normal and arcsine "
                                          "approximations, and the days it takes at a given traffic.")
    p.add_argument("--baseline", type=_rate, required=True, help="control CTR, e.g. 0.07")
    effect = p.add_mutually_exclusive_group(required=True)
    effect.add_argument("--target", type=_rate, help="challenger CTR to detect, e.g. 0.11")
    effect.add_argument("--mde", type=float, help="minimum detectable effect (absolute, or relative with --relative)")
    p.add_argument("--relative", action="store_true", help="--mde is relative to the baseline (0.2 = +20%%)")
    p.add_argument("--alpha", type=_rate, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--power", type=_rate, default=0.9, help="power (default 0.9)")
    p.add_argument("--sides", type=int, choices=(1, 2), default=1, help="one- or two-sided test (default 1)")
    p.add_argument("--control-share", type=_rate, default=0.5, help="control's share of traffic (default 0.5)")
    p.add_argument("--design-effect", type=_design_effect, default=1.0,
                   help="variance inflation from users seeing several impressions: a number >= 1 (default 1), "
                        "or 'observed' to measure it on --db-url/--csv data")
    p.add_argument("--traffic-per-day", type=float, help="impressions per day over all arms")
    _add_source(p, "observe impressions/day from the event store at URL (when --traffic-per-day is not given)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=plan_command)
    _one_line_errors(p)

    a = subparsers.add_parser("analyze", help="analyse the A/B test from the event store: verdict and report",
                              description="Per-arm CTR, z and chi-square tests, user-level (delta method) test, "
                                          "sample-ratio check, always-valid sequential test, Bayesian "
                                          "probability to beat control, and a verdict.")
    _add_source(a, "event store URL (default: the local SQLite under FUNFLIX_HOME)")
    a.add_argument("--control", default=None, help="name of the control arm (default: control)")
    a.add_argument("--alpha", type=_rate, default=0.05, help="significance level (default 0.05)")
    a.add_argument("--values", metavar="FILE", default=None,
                   help="values file whose experiment section deployed the test: split and routing "
                        "(default: charts/funflix/values.yaml)")
    a.add_argument("--split", type=_split, default=None,
                   help="configured split as arm=share,... (default: the values file's)")
    a.add_argument("--mixture-sd", type=float, default=0.03,
                   help="mSPRT prior scale of the CTR difference (default 0.03)")
    a.add_argument("--alternative", choices=("two-sided", "greater", "less"), default="two-sided",
                   help="direction of the fixed-horizon tests (greater: challenger better; default two-sided)")
    a.add_argument("--decision", choices=("sequential", "fixed", "bayesian"), default="sequential",
                   help="test the verdict rests on (default: the always-valid sequential test)")
    a.add_argument("--loss-threshold", type=float, default=0.001,
                   help="bayesian rule: expected CTR loss one accepts (default 0.001)")
    a.add_argument("--planned-per-arm", type=int, default=None,
                   help="planned sample size per arm in randomisation units (users under sticky routing, "
                        "impressions under random routing; from funflix plan): required by --decision fixed, "
                        "which reads only the data up to it")
    a.add_argument("--covariates", metavar="FILE", default=None,
                   help="CSV of user_id,covariate measured before the experiment: adds a CUPED test")
    a.add_argument("--design", choices=("ab", "interleaving"), default=None,
                   help="experiment design (default: experiment.design of --values, or charts/funflix/values.yaml); "
                        "interleaving reads each shown item's team from the event store")
    a.add_argument("--planned-users", type=int, default=None,
                   help="interleaving: planned users (the fixed-horizon read point)")
    a.add_argument("--json", action="store_true", help="print one JSON document")
    a.add_argument("--report", nargs="?", const="", default=None, metavar="PATH",
                   help="write the HTML report (default path: <FUNFLIX_HOME>/reports/experiment-<time>.html)")
    a.set_defaults(func=analyze_command)
    _one_line_errors(a)


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """Bad arguments end with one line on stderr and exit status 2 (no usage dump)."""

    def error(message: str):
        parser.exit(2, f"{parser.prog}: error: {message} (see --help)\n")

    parser.error = error


def _add_source(parser: argparse.ArgumentParser, db_help: str) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--db-url", default=None, help=db_help)
    source.add_argument("--csv", default=None, metavar="FILE",
                        help="impressions CSV with columns impression_id,user_id,arm,created_at,clicked")
    parser.add_argument("--experiment", default=None, metavar="NAME",
                        help="event store: the experiment to read, by name (its latest run) or id "
                             "(default: the current one)")


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value


def _design_effect(text: str) -> float | str:
    if text == "observed":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'observed', got {text!r}") from None


def _split(text: str) -> dict[str, float]:
    split = {}
    for part in text.split(","):
        name, sep, share = part.partition("=")
        try:
            value = float(share)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or value <= 0:
            raise argparse.ArgumentTypeError(f"expected arm=share,... with positive shares, got {text!r}")
        split[name.strip()] = value
    return split


def load_source(db_url: str | None, csv: str | None, experiment: str | None = None):
    """Impressions from a CSV file or one experiment of the event store."""
    import pandas as pd

    if csv is not None and experiment is not None:
        raise ValueError("--experiment selects from the event store; a --csv file is one experiment already")
    if csv is not None:
        try:
            return pd.read_csv(csv)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {csv}") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {csv} as CSV: {str(exc).splitlines()[0]}") from None
    from funflix.website.store import load_impressions

    return read_event_store(db_url, lambda: load_impressions(db_url, experiment))


def read_event_store(db_url: str | None, read):
    """``read()``, with SQLAlchemy's errors (a bad URL, an unreachable database: a user's mistake) as one
    ValueError naming the store."""
    try:
        return read()
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):
            raise ValueError(f"cannot read the event store at {db_url or 'the default URL'}: "
                             f"{str(exc).splitlines()[0]}") from None
        raise


def observed_traffic_per_day(impressions) -> float:
    """Impressions per day over the observed period (needs two impressions at different times)."""
    import pandas as pd

    from .analysis import validate_impressions

    df = validate_impressions(impressions)
    if len(df) < 2:
        raise ValueError("need at least two impressions to observe traffic per day")
    span = (df["created_at"].max() - df["created_at"].min()) / pd.Timedelta(days=1)
    if span <= 0:
        raise ValueError("all impressions share one timestamp: cannot observe traffic per day")
    return len(df) / span


def observed_design_effect(impressions) -> float:
    """The largest per-arm design effect in the data (at least 1)."""
    from .analysis import validate_impressions
    from .user_level import design_effect, ratio_statistics

    stats = ratio_statistics(validate_impressions(impressions))
    return max([1.0] + [design_effect(stat) for stat in stats.values()])


def plan_command(args) -> int:
    from .design import PlanConfig, plan

    traffic, design_effect = args.traffic_per_day, args.design_effect
    if design_effect == "observed" and not (args.db_url or args.csv):
        raise ValueError("--design-effect observed needs data: give --db-url or --csv")
    if args.db_url or args.csv or args.experiment:
        impressions = load_source(args.db_url, args.csv, args.experiment)
        if traffic is None:
            traffic = observed_traffic_per_day(impressions)
        if design_effect == "observed":
            design_effect = observed_design_effect(impressions)
    result = plan(PlanConfig(baseline=args.baseline, target=args.target, mde=args.mde, relative_mde=args.relative,
                             alpha=args.alpha, power=args.power, sides=args.sides,
                             control_share=args.control_share, design_effect=design_effect,
                             traffic_per_day=traffic))
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"baseline {result.baseline:.4f} -> target {result.target:.4f} "
          f"(absolute {result.absolute_effect:+.4f}, relative {result.relative_effect:+.1%}); "
          f"alpha {result.alpha}, power {result.power}, {result.sides}-sided, control share {result.control_share}")
    if result.design_effect != 1.0:
        print(f"inflated by design effect {result.design_effect:.3f}")
    print(f"{'method':<12}{'control':>10}{'challenger':>12}{'total':>10}{'days':>8}")
    for s in result.sample_sizes:
        days = f"{s.days:.1f}" if s.days is not None else "-"
        print(f"{s.method:<12}{s.control:>10,}{s.challenger:>12,}{s.total:>10,}{days:>8}")
    if traffic is not None:
        print(f"traffic: {traffic:,.0f} impressions/day")
    return 0


def analyze_command(args) -> int:
    from funflix import paths

    from .configured import analysis_config
    from .constants import DEFAULT_CONTROL
    from .interleaving_cli import analyze_interleaving_command, configured_design

    if (args.design or configured_design(args.values)) == "interleaving":
        return analyze_interleaving_command(args)
    control = args.control or DEFAULT_CONTROL
    if args.mixture_sd <= 0:
        raise ValueError(f"--mixture-sd must be positive, got {args.mixture_sd}")
    if args.planned_per_arm is not None and args.planned_per_arm <= 0:
        raise ValueError(f"--planned-per-arm must be positive, got {args.planned_per_arm}")
    if args.decision == "fixed" and args.planned_per_arm is None:
        raise ValueError("--decision fixed needs its plan: give --planned-per-arm (the sample size per arm from "
                         "funflix plan); a fixed-horizon test read at any other size is not a test")
    config = analysis_config(split=args.split, path=args.values, control=control, alpha=args.alpha,
                             alternative=args.alternative, mixture_sd=args.mixture_sd, decision_rule=args.decision,
                             planned_per_arm=args.planned_per_arm, loss_threshold=args.loss_threshold)
    covariates = None
    if args.covariates is not None:
        import pandas as pd

        try:
            covariates = pd.read_csv(args.covariates)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {args.covariates}") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {args.covariates} as CSV: {str(exc).splitlines()[0]}") from None
    if args.csv is not None:
        from .analysis import analyze

        impressions = load_source(None, args.csv, args.experiment)
        arms_seen = set(impressions["arm"].dropna().astype(str)) if "arm" in impressions else set()
        _check_control(args, control, arms_seen)
        result, experiment = analyze(impressions, config, covariates), None
    else:
        result, experiment = _analyze_store(args, control, config, covariates)
    report_path = None
    if args.report is not None:
        from datetime import datetime, timezone

        from .report import write_report

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = args.report or paths.sub("reports") / f"experiment-{stamp}.html"
        report_path = write_report(result, target)
        log.info("report written to %s", report_path)
    if args.json:
        data = result.to_dict(include_timeline=False)
        data["report"] = str(report_path) if report_path else None
        data["experiment"] = experiment
        print(json.dumps(data))
        return 0
    _print_summary(result, report_path, experiment)
    return 0


def _check_control(args, control: str, arms_seen: set[str]) -> None:
    if args.control and arms_seen and control not in arms_seen and control not in (args.split or {}):
        raise ValueError(f"unknown control arm {control!r}; arms are {', '.join(sorted(arms_seen))}")


def _analyze_store(args, control: str, config, covariates):
    """The analysis of one experiment (``--experiment``, default the current one), aggregated in the
    event store (bounded memory whatever its size); returns it with the experiment's record (a dict,
    or None for a store with no experiment recorded: every row is read)."""
    from funflix.website import store
    from funflix.website.experiments import find_experiment

    from .store_analysis import StoreAnalysis

    try:
        engine = store.open_existing(args.db_url)
        try:
            with engine.execution_options(readonly=True).connect() as conn:
                record = find_experiment(conn, args.experiment)
                experiment_id = record.id if record else None
                _check_control(args, control, set(store.analysed_arms(conn, experiment_id)))
                result = StoreAnalysis().analyze(conn, config, covariates, experiment_id=experiment_id)
                return result, record.to_dict() if record else None
        finally:
            engine.dispose()
    except Exception as exc:  # sqlalchemy's errors: a bad URL or an unreachable database is a user mistake
        if type(exc).__module__.startswith("sqlalchemy"):
            raise ValueError(f"cannot read the event store at {args.db_url or 'the default URL'}: "
                             f"{str(exc).splitlines()[0]}") from None
        raise


def _print_summary(result, report_path, experiment: dict | None = None) -> None:
    out = sys.stdout
    if experiment is not None:
        arms = ", ".join(f"{a['name']}={a['version']}" for a in experiment["arms"])
        ended = f", ended {experiment['ended_at'][:19]}" if experiment["ended_at"] else ""
        print(f"experiment {experiment['id']}: started {experiment['started_at'][:19]}{ended}; {arms}", file=out)
    for a in result.arms:
        print(f"{a.arm:<12} {a.impressions:>9,} impressions {a.clicks:>8,} clicks  CTR {a.ctr:.4f} "
              f"[{a.ci_lower:.4f}, {a.ci_upper:.4f}]", file=out)
    srm = result.srm
    print(f"sample ratio: p = {srm.p_value:.3g} -> {'MISMATCH' if srm.mismatch else 'ok'}", file=out)
    for c in result.comparisons:
        u, s, b = c.user_level, c.sequential, c.bayesian
        print(f"{c.arm} vs {result.control}: difference {u.difference:+.4f} "
              f"[{u.difference_ci[0]:+.4f}, {u.difference_ci[1]:+.4f}] (user level, p = {u.p_value:.3g}), "
              f"lift {u.relative_lift:+.1%}; z-test p = {c.z_test.p_value:.3g}; "
              f"sequential p = {s.p_value:.3g} [{s.ci[0]:+.4f}, {s.ci[1]:+.4f}]; "
              f"P(better) = {b.probability_challenger_better:.1%}", file=out)
        v, pace = c.visit_level, c.impressions_per_user
        print(f"  visits with a click: {v.control_mean:.4f} -> {v.challenger_mean:.4f} "
              f"({v.difference:+.4f} [{v.difference_ci[0]:+.4f}, {v.difference_ci[1]:+.4f}], p = {v.p_value:.3g}); "
              f"impressions per user {pace.control_mean:.2f} -> {pace.challenger_mean:.2f} "
              f"(p = {pace.p_value:.3g}{', DIFFERENT' if pace.significant else ''})", file=out)
        if c.fixed_horizon is not None:
            f = c.fixed_horizon
            print(f"  at the planned horizon: difference {f.difference:+.4f} "
                  f"[{f.difference_ci[0]:+.4f}, {f.difference_ci[1]:+.4f}], p = {f.p_value:.3g}", file=out)
        if c.cuped is not None:
            print(f"  CUPED: difference {c.cuped.difference:+.4f} [{c.cuped.difference_ci[0]:+.4f}, "
                  f"{c.cuped.difference_ci[1]:+.4f}], p = {c.cuped.p_value:.3g}; variance "
                  f"{-c.cuped_summary.variance_reduction:+.0%} with covariates for "
                  f"{c.cuped_summary.coverage:.0%} of users", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    v = result.verdict
    print(f"VERDICT: {v.decision}{f' ({v.arm})' if v.arm else ''} -- rests on {v.rests_on}: {v.reason}", file=out)
    if report_path:
        print(f"report: {report_path}", file=out)
