"""The command line as users and MLproject pass it: `-m` anywhere, `--overrides "a b"`."""

import pytest

from custom_dense_lab.config import command_line


def test_a_multirun_flag_may_stand_anywhere_among_the_overrides():
    assert command_line.normalize(["hparams_search=optuna", "-m", "seed=1"]) == [
        "-m",
        "hparams_search=optuna",
        "seed=1",
    ]
    assert command_line.normalize(["--overrides", "a=1 --multirun b=2"]) == [
        "--multirun",
        "a=1",
        "b=2",
    ]


@pytest.mark.parametrize(
    ("args", "expanded"),
    [
        (["--flags", "--units 16 --rounds 3"], ["--units", "16", "--rounds", "3"]),
        (["--flags", "--note 'a b'"], ["--note", "a b"]),
        (["--units", "16"], ["--units", "16"]),
        (["--flags", "--quick", "--rounds", "3"], ["--flags", "--quick", "--rounds", "3"]),
    ],
)
def test_an_mlproject_parameter_is_split_like_a_shell_would(args, expanded):
    assert command_line.expand_mlproject_parameter(args, "--flags") == expanded


def test_print_only_flags_run_no_job_and_overrides_are_the_key_value_words():
    assert not command_line.runs_jobs(["--cfg", "job", "model.units=8"])
    assert command_line.runs_jobs(["-m", "model.units=8,16"])
    assert command_line.overrides_of(["-m", "model.units=8,16", "--cfg", "job"]) == [
        "model.units=8,16"
    ]


def test_config_folders_are_read_from_hydras_flags_and_are_no_overrides():
    args = ["-m", "-cd", "/a=b", "layer=custom", "--config-dir=/c", "--config-dir", "/d", "x=1"]
    assert command_line.config_dirs(args) == ["/a=b", "/c", "/d"]  # in order
    assert command_line.overrides_of(args) == ["layer=custom", "x=1"]


def test_config_folders_move_to_the_front_with_their_values():
    args = ["layer=custom", "-cd", "mine", "x=1", "--config-dir=/c", "-m"]
    assert command_line.normalize(args) == [
        "-cd",
        "mine",
        "--config-dir=/c",
        "-m",
        "layer=custom",
        "x=1",
    ]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["-m", "--cfg", "job", "model.units=8,16"], "--cfg"),
        (["--info", "--multirun"], "--info"),
        (["-m", "--help"], None),
        (["--cfg", "job"], None),
    ],
)
def test_a_flag_that_only_prints_is_named_where_it_comes_with_a_sweep(args, flag):
    assert command_line.print_only_with_multirun(args) == flag


def test_no_arguments_are_the_default_job():
    assert command_line.normalize([]) == []
    assert command_line.overrides_of([]) == []
    assert command_line.config_dirs([]) == []
    assert command_line.runs_jobs([])
