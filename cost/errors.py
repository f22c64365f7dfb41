"""The one error type for bad input, shared by the CLI, the Pulumi program and the policy pack."""

from __future__ import annotations


class InputError(ValueError):
    """A bad input value: names the key, the value given (None: nothing was given) and what is allowed."""

    def __init__(self, key: str, value: object, allowed: str, detail: str = "") -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        self.detail = detail
        given = "got nothing" if value is None else f"got {value!r}"
        message = f"{key}: {given}; allowed: {allowed}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)

    def under(self, prefix: str) -> InputError:
        """The same error with its key placed under a prefix (e.g. a config path)."""
        return InputError(f"{prefix}{self.key}", self.value, self.allowed, self.detail)
