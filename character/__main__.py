"""`python -m character ...` is the same as the `character` command."""

from character.cli import main

main()
