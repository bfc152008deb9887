"""The groups `custom-dense-train --help` lists: every option a user can choose, no schemas.

Each group's options carry their typed schema in their defaults list, stored as
`<group>/_<name>` (see `schema.register_schemas`); Hydra's own help lists
those as options. The program's help template (`hydra.help.template`) lists
the groups through the `config_groups` resolver instead, which leaves them out.
"""

from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

RESOLVER = "custom_dense_config_groups"


def register_help_resolver():
    """Registers the `${custom_dense_config_groups:}` resolver the help template uses."""
    OmegaConf.register_new_resolver(RESOLVER, config_groups, replace=True)


def config_groups():
    """One line per config group outside `hydra/`: `group: option, option, ...`.

    Returns:
        The lines, as Hydra's `$APP_CONFIG_GROUPS` writes them, without the
        options whose names start with `_`.
    """
    loader = GlobalHydra.instance().config_loader()
    lines = []
    for group in sorted(_groups(loader, "")):
        options = [name for name in sorted(loader.get_group_options(group)) if name[0] != "_"]
        if options:
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)


def _groups(loader, parent):
    for name in loader.list_groups(parent):
        group = f"{parent}/{name}" if parent else name
        if group != "hydra":
            yield group
            yield from _groups(loader, group)
