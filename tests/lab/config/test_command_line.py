"""The command line as users and MLproject pass it: `-m` anywhere, `--overrides "a b"`."""

import pytest

from custom_dense_lab.config import command_line


def test_hydras_flags_may_stand_anywhere_among_the_overrides_and_move_to_the_front():
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
    args = ["layer=custom", "-cd", "mine", "x=1", "--cfg", "job", "-m"]
    assert command_line.normalize(args) == [
        "-cd",
        "mine",
        "--cfg",
        "job",
        "-m",
        "layer=custom",
        "x=1",
    ]
    assert command_line.normalize([]) == []


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


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["-m", "--cfg", "job", "model.units=8,16"], "--cfg"),
        (["--info", "--multirun"], "--info"),
        (["-m", "--help"], "--help"),
        (["-m", "model.units=8,16"], None),
        ([], None),
    ],
)
def test_a_flag_that_only_prints_is_named(args, flag):
    assert command_line.prints_only(command_line.read(args)) == flag


def test_the_config_folder_and_the_overrides_are_read_as_hydra_reads_them():
    parsed = command_line.read(["-m", "layer=custom", "--config-dir=/c", "x=1"])
    assert (parsed.config_dir, parsed.overrides, parsed.multirun) == (
        "/c",
        ["layer=custom", "x=1"],
        True,
    )


def test_a_flag_hydra_does_not_have_exits_2(capsys):
    with pytest.raises(SystemExit) as end:
        command_line.normalize(["--nope", "seed=1"])
    assert end.value.code == 2
    assert "unrecognized arguments: --nope" in capsys.readouterr().err
