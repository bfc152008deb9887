"""The one reader of Hydra override strings, with Hydra's own grammar."""

import functools

from hydra.core.override_parser.overrides_parser import OverridesParser

_parser = functools.cache(OverridesParser.create)


def parse(texts):
    """Hydra's `Override`s of `texts`; raises `hydra.errors.OverrideParseException`."""
    return _parser().parse_overrides(list(texts))


def raw_value(override):
    """The value as written on the command line (`"32,128"` for `model.units=32,128`)."""
    return override.input_line.partition("=")[2] if override.input_line else ""
