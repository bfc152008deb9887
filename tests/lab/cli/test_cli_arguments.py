"""The command-line programs' arguments, in this process (whole runs: tests/e2e).

`import_cli` imports a program's module and undoes what its `quiet_start()`
changes in the process (environment, warning filters, log levels).
"""

import gc
import logging
import os
import socket
import sys
import warnings

import pytest
from helpers import import_cli, kept_process_state

from custom_dense_lab import arguments


@pytest.fixture(scope="module")
def grid_bench():
    return import_cli("custom_dense_lab.benchmark.grid_bench")


@pytest.fixture(scope="module")
def compare():
    return import_cli("custom_dense_lab.compare")


def test_importing_a_program_here_puts_back_what_quiet_start_changes(monkeypatch):
    monkeypatch.delitem(sys.modules, "custom_dense_lab.compare", raising=False)
    environ, filters = dict(os.environ), list(warnings.filters)
    levels = {name: logging.getLogger(name).level for name in ("mlflow", "tensorflow")}
    frozen = gc.get_freeze_count()

    fresh = import_cli("custom_dense_lab.compare")

    assert fresh is sys.modules["custom_dense_lab.compare"]
    assert dict(os.environ) == environ
    assert warnings.filters == filters
    assert {name: logging.getLogger(name).level for name in levels} == levels
    assert gc.get_freeze_count() == frozen


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--units", "0,64"], "argument --units: '0' is not a positive integer"),
        (["--rounds", "0"], "argument --rounds:"),
        (["--rounds", "1"], "argument --rounds: '1' is not a number of rounds (at least 2)"),
        (["--seconds-per-sample", "-1"], "argument --seconds-per-sample:"),
    ],
)
def test_the_bench_command_refuses_a_bad_value(args, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        arguments.bench_parser().parse_args(args)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_the_bench_grid_is_the_product_of_the_flags_over_the_preset(grid_bench):
    parse = arguments.bench_parser().parse_args
    configs, settings = grid_bench.grid_and_settings(
        parse(["--units", "16,32", "--depth", "1", "--rounds", "3"])
    )
    assert [config.name for config in configs] == [
        "u16_d1_b64",
        "u16_d1_b512",
        "u32_d1_b64",
        "u32_d1_b512",
    ]
    assert settings.rounds == 3
    _, quick = grid_bench.grid_and_settings(parse(["--quick"]))
    assert (quick.rounds, quick.seconds_per_sample) == (7, 0.1)


def test_compare_says_in_one_line_that_an_experiment_holds_no_sweep(compare, tracking, capsys):
    with pytest.raises(SystemExit) as stopped:
        compare.open_sweep("nope")
    assert stopped.value.code == 2
    # The exact stderr of the program: tests/e2e/test_train_cli.py.
    assert capsys.readouterr().err.splitlines()[-1] == "error: no sweep found in experiment 'nope'"


def test_the_ui_refuses_a_port_in_use_in_one_line(tracking, capsys):
    ui = import_cli("custom_dense_lab.ui")
    with socket.socket() as taken, kept_process_state(), pytest.raises(SystemExit) as stopped:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ui.main(["--port", str(port)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"error: Invalid --port={port}: expected a port free on 127.0.0.1 (Address already in "
        "use): try --port 5001.\n"
    )


@pytest.mark.parametrize(
    ("parser", "args", "line"),
    [
        (arguments.compare_parser, ["--parent"], "argument --parent: expected one argument"),
        (arguments.bench_parser, ["--rounds", "1"], "'1' is not a number of rounds (at least 2)"),
        (arguments.studies_parser, ["nope"], "argument study: invalid choice: 'nope'"),
    ],
)
def test_a_bad_flag_of_a_program_is_one_line_and_exit_2(parser, args, line, capsys):
    with pytest.raises(SystemExit) as end:
        parser().parse_args(args)
    assert end.value.code == 2
    (said,) = capsys.readouterr().err.splitlines()
    assert said.startswith(f"{parser().prog}: error: ") and line in said
