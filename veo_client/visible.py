"""Text from the relay made safe for a terminal: control characters shown as escapes, never sent raw.

A prompt, an error message or a URL may hold ESC/OSC sequences (`\\x1b]0;title\\x07` retitles the window,
`\\x1b[2J` clears the screen) or bidirectional overrides that reorder what is shown; printed raw they act on the
user's terminal. Human output shows them as `\\x1b`, `\\u202e`; JSON output is left exact. Rich renders the
results as `Text`, never as markup, so `[bold]` in a prompt stays literal.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

__all__ = ["visible", "visible_cell", "visible_lines"]

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control character (newlines too) and bidirectional control escaped."""
    if text.isprintable():
        return text
    return "".join(
        _escaped(char) if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS else char for char in text
    )


def visible_lines(text: str) -> str:
    """A block of lines: each line as `visible` shows it, the line breaks kept."""
    return "\n".join(visible(line) for line in text.split("\n"))


def visible_cell(text: str, style: str = "") -> Text:
    """A table cell or title: escaped, and never read as rich markup."""
    return Text(visible(text), style=style)
