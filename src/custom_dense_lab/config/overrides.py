"""The one reader of Hydra override strings (`key=value`, `key=a,b`, `+key=v`, `~key`).

Every part of the lab that needs to know what an override says (the checks
of a command line, the names of runs, the threads of a sweep's workers) reads
it here, with Hydra's own grammar, so that all of them agree with Hydra.
"""

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override

__all__ = ["Override", "parse", "parse_one", "raw_value"]

_parser = None


def parse(texts):
    """Parses override strings.

    Args:
        texts: Override strings, as on the command line.

    Returns:
        A list of Hydra `Override`s, in order.

    Raises:
        hydra.errors.OverrideParseException: For text outside the grammar.
    """
    global _parser
    if _parser is None:
        _parser = OverridesParser.create()
    return _parser.parse_overrides(list(texts))


def parse_one(text):
    """Parses one override string (see `parse`)."""
    (override,) = parse([text])
    return override


def raw_value(override):
    """The value as written on the command line (`"32,128"` for `model.units=32,128`)."""
    return override.input_line.partition("=")[2] if override.input_line else ""
