"""A batch file as `veo batch` reads it: one prompt per line, blank lines skipped, each prompt's line number kept so
that the relay's refusal of `prompts[i]` is reported as "line N" (1-based) of the file."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from veo_client.relay_client import RelayError

__all__ = ["BatchFile", "read_batch_file"]

logger = logging.getLogger(__name__)

_ITEM = re.compile(r"prompts\[(\d+)\]")


@dataclass(frozen=True)
class BatchFile:
    """The prompts of a file and the (1-based) line each came from."""

    name: str
    prompts: list[str]
    lines: list[int]

    def located(self, error: RelayError) -> RelayError:
        """The relay's refusal of one prompt, said as the file's line; other errors as they are."""
        match = _ITEM.fullmatch(error.field or "")
        if match is None or int(match[1]) >= len(self.lines):
            return error
        line = self.lines[int(match[1])]
        message = _ITEM.sub("the prompt", error.message, count=1)
        return RelayError(error.code, f"line {line} of {self.name}: {message}", error.field)


def read_batch_file(name: str, text: Iterable[str]) -> BatchFile:
    """Every non-blank line of the file `name`, stripped, with its line number."""
    prompts: list[str] = []
    lines: list[int] = []
    for number, line in enumerate(text, start=1):
        if line.strip():
            prompts.append(line.strip())
            lines.append(number)
    return BatchFile("standard input" if name == "<stdin>" else name, prompts, lines)
