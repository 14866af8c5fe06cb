"""Config: the SRS-style conf file, parsed, checked against SPEC and typed, with every default in one place."""
from srsish.app.config.loader import Config, ConfigError, Directive, load_config, parse_endpoint, parse_file

__all__ = ["Config", "ConfigError", "Directive", "load_config", "parse_endpoint", "parse_file"]
