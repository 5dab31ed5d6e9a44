"""The error of a wrong setting, apart from the CLI's errors: the runtime raises it, and
an embedded run (which has no CLI) imports it without click."""


class ConfigError(ValueError):
    """A setting, or a file a setting names, is wrong or missing: the user must fix it."""
