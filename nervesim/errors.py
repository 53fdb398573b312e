"""Errors that carry the parameter they are about, so callers (the CLI, sweeps) map them to
their own names without parsing messages."""
from __future__ import annotations


class ParameterError(ValueError):
    """Bad input to a nervesim function, raised before any long computation starts.

    A `ValueError`, so ``except ValueError`` catches it. The CLI maps ``parameter`` to its flag
    (``dt_ms`` -> ``--dt-ms``) and sweeps to their spec key, without parsing the message.

    Parameters
    ----------
    parameter : str
        The library name of the offending argument (``dt_ms``, ``diameter_um``, ``tolerance``, ...),
        kept as the attribute ``parameter``.
    message : str
        One sentence naming the value, what is allowed and the fix; the exception's text.
    """

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter

    def __reduce__(self):
        # Rebuild with both arguments when sent between processes (worker pools).
        return type(self), (self.parameter, str(self))
