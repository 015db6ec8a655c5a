"""pfedit: the command-line face of :mod:`postfix_conf`."""

__version__ = "0.1.0"
