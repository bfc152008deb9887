"""The project's pins: conda.yaml's pip section repeats pyproject.toml's dependencies."""

import tomllib

import yaml
from helpers import REPO_ROOT


def test_conda_pip_section_pins_exactly_the_pyproject_dependencies():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    conda = yaml.safe_load((REPO_ROOT / "conda.yaml").read_text())
    pip_sections = [item["pip"] for item in conda["dependencies"] if isinstance(item, dict)]
    assert len(pip_sections) == 1
    assert sorted(pip_sections[0]) == sorted(pyproject["project"]["dependencies"])
    assert all("==" in requirement for requirement in pip_sections[0])
