"""Errors that carry the parameter they are about, so callers (the CLI, sweeps) map them to
their own names without parsing messages."""
from __future__ import annotations


class ParameterError(ValueError):
    """Bad input.

    Parameters
    ----------
    parameter : the library name of the offending argument (``dt_ms``, ``diameter_um``, ...)
    message : one sentence saying what is wrong and what is allowed
    """

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
