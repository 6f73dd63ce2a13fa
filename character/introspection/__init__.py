"""Stage 2 of the recipe: introspection data (self-reflection, self-interaction) and SFT.

Public API in `character.introspection.pipeline`; data format in
`character.introspection.dataset`.
"""
