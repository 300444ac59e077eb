"""The domain's exceptions.

DomainError
 ├── GenerationNotFound      no generation has that id
 ├── IllegalTransition       the command does not fit the generation's current state
 │    └── AlreadyTerminal    the generation is completed, failed or cancelled: terminal states are final
 ├── RequestKeyConflict      a request key was reused with different parameters
 └── InvalidParameter        a command argument is out of range (names the field)
"""

from __future__ import annotations

__all__ = [
    "AlreadyTerminal",
    "DomainError",
    "GenerationNotFound",
    "IllegalTransition",
    "InvalidParameter",
    "RequestKeyConflict",
]


class DomainError(Exception):
    """Base class of every error the domain raises."""


class GenerationNotFound(DomainError):
    """No generation has the given id."""

    def __init__(self, generation_id: object) -> None:
        super().__init__(f"generation {generation_id} not found")
        self.generation_id = generation_id


class IllegalTransition(DomainError):
    """A command that does not fit the generation's current state."""


class AlreadyTerminal(IllegalTransition):
    """A command on a generation that is already completed, failed or cancelled."""


class RequestKeyConflict(DomainError):
    """A request key already names a generation made with different parameters."""


class InvalidParameter(DomainError):
    """A command argument is missing or out of range."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
