"""The command lines of `custom-dense-compare`, `-studies`, `-bench` and `-ui`, free of heavy imports."""

import argparse
import contextlib
import sys
from pathlib import Path

# The studies of `custom-dense-studies`: the presets in conf/experiment/ it reports on.
STUDY_NAMES = ("parity", "width", "activations_initializers", "devices", "quantization", "backends")
# The bench's grids: `--quick`, else the full one; flags replace their parts.
QUICK = {"units": [64, 1024], "depth": [2], "batch_size": [512], "rounds": 7, "seconds": 0.1}
FULL = {"units": [64, 1024], "depth": [1, 2], "batch_size": [64, 512], "rounds": 15, "seconds": 0.2}


class _Parser(argparse.ArgumentParser):
    """argparse, with bad input said in one line (its usage is in `--help`)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def answer_help(parser_factory, module_file):
    """Prints the help and exits 0, before anything heavy loads, when this process runs the program with `-h`."""
    parser = parser_factory()
    if is_program(parser.prog, module_file) and {"-h", "--help"} & set(sys.argv[1:]):
        parser.parse_args(sys.argv[1:])


def is_program(console_script, module_file):
    """Whether this process runs the program: its console script, or its module with `-m`."""
    return Path(sys.argv[0]).name in (console_script, Path(module_file).name)


def compare_parser():
    parser = _Parser(
        prog="custom-dense-compare",
        description="Pair a sweep's custom and stock runs, print the comparison and log "
        "comparison.csv, comparison.md and comparison.png on its parent run.",
    )
    latest = "experiment name ('': the latest sweep of any experiment)"
    parser.add_argument("--experiment", default="custom-dense", help=latest)
    parser.add_argument("--parent", help="parent run id (default: latest sweep)")
    parser.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI")
    return parser


def studies_parser():
    parser = _Parser(
        prog="custom-dense-studies",
        description="Rebuild a study's results.md and results.png from its latest sweep in MLflow.",
    )
    parser.add_argument("study", choices=sorted(STUDY_NAMES))
    parser.add_argument("--parent", help="the sweep's parent run id (default: latest)")
    parser.add_argument("--experiment", help="default: study-<study>")
    parser.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI")
    parser.add_argument("--output", type=Path, help="default: experiments/<study> here")
    return parser


def bench_parser():
    parser = _Parser(
        prog="custom-dense-bench",
        description="Time CustomDense against keras.layers.Dense side by side in one process: "
        "training steps through the compiled train function, batched and single-sample "
        "inference, over a grid of MLPs (784 inputs, `depth` hidden layers of `units`, 10 "
        "classes). Prints a table, and logs bench.csv, bench.png and the metrics to an MLflow "
        "run tagged kind=bench.",
    )
    add = parser.add_argument
    quick = "a small grid (units 64,1024, depth 2, batch 512) and 7 rounds: under a minute"
    add("--quick", action="store_true", help=quick)
    add("--units", type=_int_list, help="hidden widths, e.g. 64,1024")
    add("--depth", type=_int_list, help="hidden layer counts, e.g. 1,2")
    add("--batch-size", type=_int_list, help="batch sizes, e.g. 64,512")
    add("--rounds", type=_rounds, help="timed rounds, at least 2 (default 15, quick 7)")
    sample = "target duration of one timed sample (default 0.2, quick 0.1)"
    add("--seconds-per-sample", type=_positive_float, help=sample)
    steps = "training steps per call of the compiled train function (default 10)"
    add("--steps-per-execution", type=_positive_int, default=10, help=steps)
    jit = "XLA for both models (default auto: off on a CPU-only machine, as in training jobs)"
    add("--jit-compile", choices=["auto", "true", "false"], default="auto", help=jit)
    add("--device", choices=["auto", "cpu", "gpu"], default="auto")
    backend = "the Keras backend to time on, in a process of its own (default: $KERAS_BACKEND, else tensorflow)"
    add("--backend", choices=["tensorflow", "jax", "torch"], help=backend)
    add("--experiment", default="custom-dense", help="MLflow experiment name")
    add("--tracking-uri", help="default: $MLFLOW_TRACKING_URI")
    add("--output-dir", type=Path, help="also write bench.csv and bench.png here")
    return parser


def ui_parser():
    parser = _Parser(
        prog="custom-dense-ui",
        description="Start the MLflow UI over the lab's tracking store, and say when it answers. "
        "Ctrl-C stops it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=_port, default=5000, help="default: 5000")
    uri = "default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db"
    parser.add_argument("--tracking-uri", help=uri)
    return parser


def _number(words, ok=lambda v: v > 0, convert=int):
    """An argparse type: `convert(text)`, refused as not `words` unless `ok`."""

    def parse(text):
        with contextlib.suppress(ValueError):
            if ok(value := convert(text)):
                return value
        raise argparse.ArgumentTypeError(f"{text!r} is not {words}")

    return parse


_positive_int = _number("a positive integer")
_positive_float = _number("a positive number", convert=float)
_rounds = _number("a number of rounds (at least 2)", lambda v: v >= 2)  # 1 gives no interval
_port = _number("a port number (1 to 65535)", lambda v: 0 < v <= 65535)
_int_list = lambda text: [_positive_int(part) for part in text.split(",")]  # noqa: E731
