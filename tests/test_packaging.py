"""The project's packaging: a library that needs Keras alone, one lock file for everything else."""

import tomllib

import yaml
from helpers import REPO_ROOT
from packaging.requirements import Requirement

LOCK = REPO_ROOT / "requirements.lock"
LOCKED_EXTRAS = ("lab", "tensorflow-cpu", "server", "test", "docs")


def pyproject():
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def locked_versions():
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[_canonical(requirement.name)] = specifier.version
    return pins


def _canonical(name):
    return name.lower().replace("_", "-").replace(".", "-")


def test_the_library_depends_on_a_range_of_keras_and_nothing_else():
    (requirement,) = map(Requirement, pyproject()["dependencies"])
    assert requirement.name == "keras"
    assert all(spec.operator in (">=", "<") for spec in requirement.specifier)


def test_the_lock_pins_a_version_of_every_requirement_that_its_range_accepts():
    pins = locked_versions()
    extras = pyproject()["optional-dependencies"]
    requirements = [*pyproject()["dependencies"], *(r for e in LOCKED_EXTRAS for r in extras[e])]
    for requirement in map(Requirement, requirements):
        name = _canonical(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
        )


def test_conda_and_uv_environments_install_the_lock():
    conda = yaml.safe_load((REPO_ROOT / "conda.yaml").read_text())
    pip_sections = [item["pip"] for item in conda["dependencies"] if isinstance(item, dict)]
    assert pip_sections == [["-r requirements.lock"]]


def test_every_program_is_a_console_script_of_the_lab_with_its_module():
    scripts = pyproject()["scripts"]
    assert set(scripts) == {
        f"custom-dense-{name}" for name in ("train", "compare", "bench", "studies", "ui")
    }
    for script, target in scripts.items():
        module, _, function = target.partition(":")
        assert module == f"custom_dense_lab.{script.removeprefix('custom-dense-')}"
        assert (REPO_ROOT / "src" / (module.replace(".", "/") + ".py")).is_file()
        assert function == "main"
