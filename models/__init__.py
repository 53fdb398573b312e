"""Declarative fibre-model definitions (TOML) and NEURON mechanism sources.

Installed as the package ``nervesim.models``; the engine reads these files with
`nervesim.model` and never hard-codes a model.
"""
