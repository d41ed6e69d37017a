"""The plugin's one error type: a problem worth one clear line to the user."""


class PluginError(Exception):
    """A problem worth one clear line to the user."""
