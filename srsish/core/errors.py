"""The error hierarchy shared by every layer."""


class SrsishError(Exception):
    """Base of srsish's own errors."""


class ProtocolError(SrsishError, ValueError):
    """Malformed or hostile input on the wire; the connection that sent it is closed."""


class ConfigError(SrsishError):
    """A configuration file that cannot be used; the message names file, line and directive."""


class MediaError(SrsishError, ValueError):
    """Media bytes (a container or a codec configuration) that cannot be parsed or muxed."""
