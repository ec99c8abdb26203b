"""User-facing errors.

`ArchsimError` is raised for bad input (unknown model names, bad configs, images
out of range, ...). The CLI prints its message and exits with status 2 instead of
showing a traceback from deep inside a library.

`short_repr(value)` is how a message quotes a value the user gave: at most
QUOTE_CHARS characters (a long string, a long list or a deep mapping is cut with
'...'), built without ever writing the whole value out. `one_line(message)` puts a
message on one line of at most MAX_LINE characters.
"""

import reprlib

QUOTE_CHARS = 80
MAX_LINE = 2000

_quote = reprlib.Repr()
_quote.maxstring = _quote.maxother = QUOTE_CHARS
_quote.maxlist = _quote.maxtuple = _quote.maxdict = _quote.maxset = _quote.maxfrozenset = 6
_quote.maxlevel = 3


class ArchsimError(Exception):
    """Bad input or configuration, with a message that says what to fix."""


def short_repr(value) -> str:
    """repr(value), cut to about QUOTE_CHARS characters (reprlib: no full repr is ever built)."""
    text = _quote.repr(value)
    return text if len(text) <= QUOTE_CHARS + 10 else text[:QUOTE_CHARS] + "..."


def one_line(message: str) -> str:
    """`message` on one line: its lines stripped and joined with '; ' (a user error is one line), cut after
    MAX_LINE characters with the full length said."""
    text = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
    return text if len(text) <= MAX_LINE else f"{text[:MAX_LINE]}... ({len(text):,} characters in all)"
