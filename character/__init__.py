"""Open Character Studio: the library behind the studio and the `character` command.

Every action is a function here with a typed config; the CLI and the studio only build configs
and call them.
"""

__version__ = "0.1.0"
