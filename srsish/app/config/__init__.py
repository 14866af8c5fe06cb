"""Config: the SRS-style conf file, parsed, checked against SPEC and typed, with every default in one place."""
from srsish.app.config.checks import parse_endpoint
from srsish.app.config.config import Config
from srsish.app.config.loader import load_config, spec_defaults
from srsish.app.config.parser import Directive, parse_file
from srsish.app.config.spec import DEFAULT_VHOST, NOT_IMPLEMENTED
from srsish.core.errors import ConfigError

__all__ = ["Config", "ConfigError", "DEFAULT_VHOST", "Directive", "NOT_IMPLEMENTED", "load_config", "parse_endpoint",
           "parse_file", "spec_defaults"]
