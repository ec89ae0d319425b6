"""``frozen-bench`` entry point: dispatch on the first word.

``run`` hands the rest of the command line to the Hydra app (so ``-m``, ``--cfg job``, ``--info``,
``--help`` and ``+exp=NAME`` all work; ``launch.command``); the other commands are plain argparse,
and ``main`` is their one error handler: bad input is one line and exit 2, a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# groups chosen with a leading + (`+exp=NAME`); fnvariant is the points of the function sweeps
from frozen_bench.config import APPENDED, RESULTS_DIR

HELP = """usage: frozen-bench <command> [args]

Benchmark frozen neural networks: fixed mixing (WHT, DCT, FFT, random orthogonal, identity),
learned per-channel activations, adapters, small heads.

commands:
  run [overrides]   train one config (Hydra app). Examples:
                      frozen-bench run                           # frozen WHT MLP on digits
                      frozen-bench run +exp=fmnist_wht           # a preset
                      frozen-bench run transform=dct activation=pwl3 adapter=lora adapter.rank=4
                      frozen-bench run -m transform=wht,dct,random_orth,identity seed=0,1,2
                      frozen-bench run --cfg job                 # print the composed config
                      frozen-bench run --help                    # Hydra's help: groups and options
  collect           rebuild outputs/all.csv from every run record (--results-dir DIR; the paper's: results)
  figures           draw every paper figure from outputs/all.csv into outputs/figures (--csv, --out)
  list              the options of each config group, the exp presets and the sweeps
  pending           read run lines (overrides, one run per line) on stdin, print those without a finished
                    record: a resumable script's stage restarts without one process per finished run;
                    --stale: a line re-running (force=true) each row of all.csv made by other result code
  run-lines -j N    run such lines (stdin), N at a time in N long-lived workers, skipping finished ones;
                    all.csv refreshed once at the end (no ~4 s process start per run)
  summary [CSV]     any sweep's metric as mean ± 95% CI and n, grouped by the keys it varied (markdown);
                    --by KEY ..., --metric test_accuracy, --exp NAME, --plot out.png (dot plot, CI bars)
  predict RUN_DIR INPUT...
                    a run saved with trainer.save_model=true on image/audio files, folders or .npy/.pt arrays,
                    through its own preprocessing: a CSV row per input (label, probabilities); --out CSV
  evaluate RUN_DIR --data DIR
                    score such a run on a labelled folder (DIR/<class>/<file>): accuracy, F1, confusion matrix,
                    recorded in RUN_DIR/evaluations/
  export RUN_DIR    export a run saved with trainer.save_model=true: --format onnx|torchscript, --quantize int8|fp16;
                    checks it against PyTorch, writes <file>.json (bytes, batch-1 latency, test accuracy, what the
                    input must be) and preprocess.json beside it; --raw-input: an image model's normalisation in the graph
  meta-init --out PATH [--suite digits|fmnist] [overrides]
                    learn PAct initial values over source tasks (Reptile), write them to PATH, and compare
                    them with the default init on the held-out task (use: +activation.init_from=PATH)
  fair-select       choose lr/weight decay per (dataset, budget, family) on validation (fair_tune rows)
                    -> results/fair/selected.csv; --print-overrides for the final stage;
                    --design: each family's design from the design search (fair_design_tune rows);
                    --exp NAME: another screen's rows (scripts/twin_width.sh: twin_width_8000_tune)

sweeps and the paper:
  frozen-bench run -m +profile=quick +sweep=transforms   # one ablation (conf/sweep/), 3 seeds
  scripts/reproduce.sh quick                             # every sweep, collect, figures (~13 min)
  --help            this text

Records: outputs/runs/<signature>/{config.yaml,metrics.json,history.csv,curve.png} (results_dir=outputs,
the one folder every command reads by default; the paper's scripts write and read results/ explicitly);
a finished signature is skipped on re-run unless force=true.
"""


def _conf_dir() -> Path:
    from frozen_bench.config import conf_dir

    return Path(conf_dir())


def cmd_list(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="frozen-bench list", description="List config groups, options and exp presets.").parse_args(argv)
    conf = _conf_dir()
    for group in sorted(p for p in conf.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        options = sorted(f.stem for f in group.glob("*.yaml"))
        label = f"+{group.name}" if group.name in APPENDED else group.name
        print(f"{label}: {', '.join(options)}")
    return 0


def cmd_collect(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="frozen-bench collect", description="Rebuild all.csv from every run record.")
    p.add_argument("--results-dir", default=RESULTS_DIR, help=f"folder holding runs/ (default: {RESULTS_DIR}, where run writes)")
    p.add_argument("--out", default=None, help="CSV to write (default: <results-dir>/all.csv)")
    p.add_argument("--rekey", action="store_true",
                   help="first move each record whose folder is not the signature its config hashes to now (records made "
                        "before the data-location keys left the signature, or before prune dropped augment: none) to that "
                        "folder, or, when a record is already there, aside to runs/.superseded/ so that all.csv lists the run once")
    a = p.parse_args(argv)
    from frozen_bench.record.table import collect

    if not (Path(a.results_dir) / "runs").is_dir():
        print(f"frozen-bench collect: error: no runs in {a.results_dir}/runs; run something first (frozen-bench run "
              f"results_dir={a.results_dir}), or give the folder that holds runs/ with --results-dir", file=sys.stderr)
        return 2
    try:
        if a.rekey:
            from frozen_bench.atomic import locked
            from frozen_bench.record.rekey import rekey_all

            with locked(Path(a.results_dir) / ".all.csv.lock"):
                rekey_all(a.results_dir)
        collect(a.results_dir, a.out)
    except OSError as e:  # e.g. an unwritable --out: one line, not a traceback
        print(f"frozen-bench collect: error: cannot write the CSV ({e}); choose a writable --out", file=sys.stderr)
        return 2
    return 0


def cmd_figures(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="frozen-bench figures",
                                description="Draw every paper figure (PNG and PDF) and the tables from all.csv.")
    p.add_argument("--csv", default=f"{RESULTS_DIR}/all.csv", help=f"the collected runs (default: {RESULTS_DIR}/all.csv)")
    p.add_argument("--out", default=None, help="output folder (default: figures/ beside --csv)")
    p.add_argument("--tables", default=None, help="markdown tables to write (default: tables.md beside --csv)")
    a = p.parse_args(argv)
    from frozen_bench.record.table import read_all_csv

    df = read_all_csv(a.csv)  # a missing or malformed CSV: one line, before any figure is drawn
    rows = len(df)
    del df
    from frozen_bench.report.figures import make_all
    from frozen_bench.report.tables import write_tables

    out = a.out or str(Path(a.csv).with_name("figures"))
    try:
        written, skipped = make_all(a.csv, out)
        if not written:  # ad-hoc runs: none of the paper's sweeps; writing nothing and exiting 0 hid that
            print(f"frozen-bench figures: error: no figure can be drawn from {a.csv}: its rows are none of the paper's "
                  f"sweeps ({len(skipped)} figures need rows it lacks); for your own sweep use frozen-bench summary "
                  f"{a.csv} --exp NAME --plot out.png", file=sys.stderr)
            return 2
        tables = write_tables(read_all_csv(a.csv), a.tables or Path(a.csv).with_name("tables.md"), log=lambda *_: None,
                              source=a.csv)
    except OSError as e:  # e.g. an unwritable --out
        print(f"frozen-bench figures: error: cannot write the figures ({e}); choose a writable --out", file=sys.stderr)
        return 2
    print(f"[frozen-bench] figures: read {a.csv} ({rows} rows): {len(written)} files in {out}" + (f", {len(skipped)} figure(s) skipped" if skipped else "")
          + f"; tables in {tables}")
    return 0


def cmd_fair_select(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="frozen-bench fair-select",
                                description="Choose each (dataset, budget, family)'s lr and weight decay on validation "
                                            "accuracy (fair_tune rows) and write the selection for the final stage.")
    p.add_argument("--csv", default=f"{RESULTS_DIR}/all.csv", help=f"the collected runs (default: {RESULTS_DIR}/all.csv)")
    p.add_argument("--out", default=None, help="selection to write (default: fair/selected.csv beside --csv; "
                                               "with --design fair/design_selected.csv)")
    p.add_argument("--print-overrides", action="store_true", help="print each chosen configuration's overrides, one a line")
    p.add_argument("--design", action="store_true",
                   help="choose each family's design instead, from the design search's trials (fair_design_tune rows)")
    p.add_argument("--exp", default=None,
                   help="the screen's experiment (exp_name) whose rows are chosen from (default: fair_tune; "
                        "e.g. scripts/twin_width.sh's twin_width_8000_tune)")
    a = p.parse_args(argv)
    from frozen_bench.report.design import design_select
    from frozen_bench.errors import UserError
    from frozen_bench.report.select import TUNE_EXP, fair_select, final_overrides

    if a.design and a.exp:
        raise UserError("fair-select: --design reads the design search's rows; drop --exp (or --design)")

    fair = Path(a.csv).with_name("fair")
    print(f"[frozen-bench] fair-select: read {a.csv}", file=sys.stderr)
    if a.design:
        path, sel = design_select(a.csv, a.out or fair / "design_selected.csv")
    else:
        path, sel = fair_select(a.csv, a.out or fair / "selected.csv", exp=a.exp or TUNE_EXP)
    what = "design(s)" if a.design else "configuration(s)"
    print(f"[frozen-bench] fair-select: {len(sel)} {what} chosen on validation -> {path}", file=sys.stderr)
    if a.print_overrides:
        for _, r in sel.iterrows():
            print(r["design"] if a.design else " ".join(final_overrides(r)))
    return 0


def cmd_pending(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="frozen-bench pending",
                                description="Read `frozen-bench run` override lines (one run per line) on stdin and print "
                                            "those that have no finished record, in order; the count goes to stderr. "
                                            "With --stale, print instead a line re-running (force=true) each finished row of "
                                            "--csv made by code whose models/nn/train/data differ from HEAD.")
    p.add_argument("--stale", action="store_true", help="list the stale rows of --csv as run lines (stdin is not read)")
    p.add_argument("--csv", default=f"{RESULTS_DIR}/all.csv", help=f"with --stale: the collected runs (default: {RESULTS_DIR}/all.csv)")
    a = p.parse_args(argv)
    from frozen_bench.launch.pending import pending, stale_lines

    if a.stale:
        out, n, missing = stale_lines(a.csv)
        for line in out:
            print(line, flush=True)
        print(f"[frozen-bench] pending: read {a.csv}: {len(out) + len(missing)} of {n} rows are stale (made by code whose "
              f"models/nn/train/data differ from HEAD)" + (f"; {len(missing)} recorded no overrides to re-run them with: "
                                                             f"{', '.join(missing[:5])}" if missing else "")
              + ("; re-run them: ... | frozen-bench run-lines -j N" if out else ""), file=sys.stderr)
        return 0
    lines = sys.stdin.readlines()
    bad: list[tuple[int, str]] = []  # a line that is no run line is an error, never "finished"
    out, n = pending(lines, errors=bad)
    for num, msg in bad:
        print(f"frozen-bench pending: error: line {num}: {msg} [{lines[num - 1].strip()}]", file=sys.stderr)
    try:
        for line in out:
            print(line, flush=True)
    except BrokenPipeError:  # the reader stopped early (| head): not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush is quiet
        return 2 if bad else 0
    if bad:
        return 2
    print(f"[frozen-bench] pending: {len(out)} of {n} runs have no finished record", file=sys.stderr)
    return 0


def cmd_run_lines(argv: list[str]) -> int:
    from frozen_bench.launch.run_lines import main

    return main(argv)


def cmd_summary(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="frozen-bench summary",
                                description="A metric as mean ± 95% CI and n, grouped by the keys the chosen rows vary "
                                            "(or --by), as a markdown table; finished rows (status ok) only.")
    p.add_argument("csv", nargs="?", default=f"{RESULTS_DIR}/all.csv", help=f"the collected runs (default: {RESULTS_DIR}/all.csv)")
    p.add_argument("--by", nargs="+", metavar="KEY", default=None,
                   help="group by these columns (default: those of model, family, transform, activation, adapter, "
                        "adapter_rank, width, depth, budget, lr, ... that vary within the rows)")
    p.add_argument("--metric", default="test_accuracy", help="the column to summarize (default: test_accuracy)")
    p.add_argument("--exp", default=None, help="only the rows of this exp (the sweep's name, e.g. sweep_transforms)")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="also draw a dot plot with 95%% CI bars there")
    a = p.parse_args(argv)
    from frozen_bench.report.summary import markdown, plot, read, summarize

    df = read(a.csv)
    table, keys = summarize(df, metric=a.metric, by=a.by, exp=a.exp)
    print(f"[frozen-bench] summary: read {a.csv} ({len(df)} rows)", file=sys.stderr)  # bad input stays one line
    print(markdown(table, keys, a.metric))
    if a.plot:
        try:
            out = plot(table, keys, a.metric, a.plot)
        except (OSError, ValueError) as e:  # an unwritable path, an unknown image format
            print(f"frozen-bench summary: error: cannot write the plot ({' '.join(str(e).split())[:120]}); "
                  f"choose a writable --plot path ending in .png, .pdf or .svg", file=sys.stderr)
            return 2
        print(f"[frozen-bench] summary: plot -> {out}", file=sys.stderr)
    return 0


def cmd_export(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="frozen-bench export",
                                description="Export a finished run saved with trainer.save_model=true for the edge (ONNX or "
                                            "TorchScript), check it against PyTorch, and write an export record beside it.")
    p.add_argument("run_dir", help="the run folder (results/runs/<signature>) holding config.yaml, metrics.json and model.pt")
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"], help="onnx (default) or torchscript")
    p.add_argument("--quantize", default="none", choices=["none", "int8", "fp16"],
                   help="int8: dynamic int8 weights (onnxruntime / torch.ao); fp16: half precision, float32 in and out")
    p.add_argument("--out", default=None, help="folder for the file and its record (default: RUN_DIR/export)")
    p.add_argument("--dense", action="store_true", help="write WHT/DCT/FFT as dense matrices instead of their fast operators")
    p.add_argument("--reps", type=int, default=200, help="timed batch-1 repetitions (default: 200)")
    p.add_argument("--raw-input", action="store_true",
                   help="image datasets: the normalisation in the graph, which then reads pixels 0-255 (N, C, H, W); "
                        "without it the input is the normalised tensor that preprocess.json, written beside, describes")
    a = p.parse_args(argv)
    from frozen_bench.export.export_run import export_run

    try:
        export_run(a.run_dir, a.format, a.quantize, out=a.out, dense=a.dense, reps=max(1, a.reps), raw_input=a.raw_input)
    except RuntimeError as e:  # the export does not match PyTorch: a failure, not bad input
        print(f"frozen-bench export: error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_meta_init(argv: list[str]) -> int:
    from frozen_bench.train.meta import SUITES

    p = argparse.ArgumentParser(
        prog="frozen-bench meta-init",
        description="Meta-learn the initial values of the PAct parameters with Reptile over class-subset source tasks "
                    "(inner loop: k steps of the normal training; outer: move the init toward the adapted values), "
                    "write them to --out, then train the held-out task from the default init and from the learned one. "
                    "digits: sources 3-way subsets of 0-6, held out 7/8/9; fmnist: sources 4-way subsets of classes 0-5 "
                    "(2000 samples each), held out classes 6-9. A run uses the file with +activation.init_from=PATH.")
    p.add_argument("overrides", nargs="*", help="config overrides as for run (activation=pwl3 model.depth=3 trainer.epochs=10 ...)")
    p.add_argument("--out", required=True, help="the init file to write (JSON)")
    p.add_argument("--suite", default="digits", choices=sorted(SUITES), help="source and held-out tasks (default: digits)")
    p.add_argument("--outer", type=int, default=30, help="Reptile outer steps (default: 30)")
    p.add_argument("--inner", type=int, default=100, help="optimizer steps of the normal training per task (default: 100)")
    p.add_argument("--meta-lr", type=float, default=1.0, help="outer step size epsilon (default: 1.0, decayed linearly to 0)")
    p.add_argument("--meta-batch", type=int, default=2, help="tasks per outer step (default: 2)")
    p.add_argument("--share", default="channel", choices=["channel", "block"],
                   help="channel: one init per channel (default); block: one per parameter and block, shared by its channels")
    p.add_argument("--no-decay", action="store_true", help="keep epsilon constant")
    p.add_argument("--eval-seeds", default="0,1,2", help="seeds of the held-out comparison, comma-separated "
                                                           "(default: 0,1,2; none: skip it)")
    a = p.parse_args(argv)
    from frozen_bench.errors import UserError

    try:
        a.eval_seeds = [] if a.eval_seeds.strip().lower() in ("", "none") else [int(v) for v in a.eval_seeds.split(",")]
    except ValueError:
        raise UserError(f"--eval-seeds must be integers like 0,1,2 (or none), got {a.eval_seeds!r}") from None
    return _meta_init(a)


def _meta_init(a) -> int:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from frozen_bench import progress
    from frozen_bench.config import check_overrides, conf_dir
    from frozen_bench.errors import UserError
    from frozen_bench.models import prune
    from frozen_bench.train import act_init as AI
    from frozen_bench.train import meta
    from frozen_bench.train.check_config import validate
    from frozen_bench.train.threads import configure_threads

    suite = meta.SUITES[a.suite]
    for name, v, low in (("--outer", a.outer, 1), ("--inner", a.inner, 1), ("--meta-batch", a.meta_batch, 1)):
        if v < low:
            raise UserError(f"{name} must be >= {low}, got {v}")
    if not a.meta_lr > 0:
        raise UserError(f"--meta-lr must be > 0, got {a.meta_lr}")
    if any(w.lstrip("+~").split("=")[0] in ("dataset", "dataset.keep_classes") for w in a.overrides):
        raise UserError(f"the suite chooses the dataset and the classes (--suite {a.suite}: dataset={suite.dataset}); "
                        f"drop the dataset override")
    if any(w.lstrip("+").startswith("activation.init_from") for w in a.overrides):
        raise UserError("meta-init learns the init from the default one; drop +activation.init_from")
    words = [*a.overrides, f"dataset={suite.dataset}"]
    check_overrides(words)
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        base = OmegaConf.to_container(compose("config", overrides=words), resolve=True)
    pruned = prune(base)
    if "activation" not in pruned:
        raise UserError(f"model={base['model']['name']} has no activation to initialise; use model=frozen_mlp (the default)")
    validate(pruned)
    configure_threads(base["trainer"].get("threads"))
    progress.set_mode("off")  # no bar per inner loop
    try:
        phi0, phi = meta.meta_train(pruned, suite, a.outer, a.inner, a.meta_lr, a.meta_batch, a.share,
                                    decay=not a.no_decay, log=progress.say)
        info = {"suite": a.suite, "dataset": suite.dataset, "source_classes": list(suite.source_classes),
                "ways": suite.ways, "subset": suite.subset, "heldout_classes": list(suite.heldout_classes),
                "share": a.share, "outer": a.outer, "inner": a.inner, "meta_lr": a.meta_lr, "meta_batch": a.meta_batch,
                "decay": not a.no_decay, "seed": int(base["seed"]), "overrides": a.overrides,
                "model": pruned["model"], "rms_move": meta.distance(phi, phi0), "summary": meta.summary_of(phi)}
        path = AI.write(a.out, phi, pruned["activation"]["name"], meta=info)
        progress.say(f"[frozen-bench] meta-init: {sum(v.numel() for v in phi.values())} PAct values -> {path} "
                     f"(rms move from the default init {info['rms_move']:.4f})")
        for k, v in info["summary"].items():
            progress.say(f"[frozen-bench]   {k}: mean {v['mean']:.4f} sd {v['sd']:.4f} [{v['min']:.4f}, {v['max']:.4f}]")
        if a.eval_seeds:
            rows = meta.evaluate_prior(pruned, suite, str(path), a.eval_seeds, log=progress.say)
            classes = ",".join(map(str, suite.heldout_classes))
            subset = f" dataset.subset={suite.subset}" if suite.subset else ""
            seeds = ",".join(map(str, a.eval_seeds))
            print(f"\nheld-out task: dataset={suite.dataset} classes [{classes}]{subset}, seeds {seeds}\n")
            print(meta.table(rows))
            print(f"\nthe same runs, recorded: frozen-bench run -m dataset={suite.dataset} '+dataset.keep_classes=[{classes}]'{subset} "
                  f"seed={seeds} {' '.join(a.overrides)} [+activation.init_from={path}]".replace("  ", " "))
    finally:
        progress.set_mode(None)
    return 0


def cmd_predict(argv: list[str]) -> int:
    from frozen_bench.predict.commands import cmd_predict as run

    return run(argv)


def cmd_evaluate(argv: list[str]) -> int:
    from frozen_bench.predict.commands import cmd_evaluate as run

    return run(argv)


COMMANDS = {"collect": cmd_collect, "evaluate": cmd_evaluate, "export": cmd_export, "fair-select": cmd_fair_select, "figures": cmd_figures, "list": cmd_list,
            "meta-init": cmd_meta_init, "pending": cmd_pending, "predict": cmd_predict, "run-lines": cmd_run_lines,
            "summary": cmd_summary}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(HELP)
        return 0
    cmd, rest = argv[0], argv[1:]
    from frozen_bench.launch.completion import is_completion

    if is_completion([cmd]) or (cmd == "run" and is_completion(rest)):
        from frozen_bench.launch.completion import shell_completion

        # `run -sc install=bash` prints the script; the installed script asks `frozen-bench -sc query=bash`
        return shell_completion(argv if cmd != "run" else rest, ["run", *COMMANDS])
    if cmd == "run":
        from frozen_bench.launch.command import main as run_main

        return run_main(rest)  # one-line errors, a sweep summary, non-zero exit on any failure
    if cmd in COMMANDS:
        from frozen_bench.errors import EXIT_BAD_INPUT, is_user_error, one_line

        try:
            return COMMANDS[cmd](rest)
        except Exception as e:  # the one handler: bad input (errors.user_errors) is one line, exit 2;
            if not is_user_error(e):  # anything else is a bug of ours, so its traceback stays
                raise
            print(f"frozen-bench {cmd}: error: {one_line(e)}", file=sys.stderr)
            return EXIT_BAD_INPUT
    import difflib

    close = difflib.get_close_matches(cmd, ["run", *COMMANDS], n=1, cutoff=0.6)
    print(f"frozen-bench: error: unknown command {cmd!r}; " + (f"did you mean {close[0]}? " if close else "")
          + f"choose one of run, {', '.join(COMMANDS)} (frozen-bench --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
