"""The `${custom_dense_config_groups:}` resolver of the help template: each group's options, no schemas."""

from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf


def register_help_resolver():
    OmegaConf.register_resolver("custom_dense_config_groups", config_groups, replace=True)


def config_groups():
    """One line per group outside `hydra/`, `group: option, ...`, without `_`-named options."""
    loader = GlobalHydra.instance().config_loader()
    lines, groups = [], list(loader.list_groups(""))
    for group in groups:
        groups += [f"{group}/{name}" for name in loader.list_groups(group)]
    for group in sorted(g for g in groups if g != "hydra" and not g.startswith("hydra/")):
        options = [name for name in sorted(loader.get_group_options(group)) if name[0] != "_"]
        if options:
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)
