"""Test doubles that ship with the library: stand-ins of paid or remote services that speak
their real wire protocol on loopback, so the whole path can be exercised offline.

They live in the package, not under `tests/`, because `character tinker standin` (the offline
demo) and `bench/tinker_standin.py` run them too. Nothing on the product path imports this
package; `tests/test_layering.py` checks that only the CLI's demo command does.
"""
