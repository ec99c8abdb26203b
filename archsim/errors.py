"""User-facing errors.

`ArchsimError` is raised for bad input (unknown model names, bad configs, images
out of range, ...). The CLI prints its message and exits with status 2 instead of
showing a traceback from deep inside a library.
"""


class ArchsimError(Exception):
    """Bad input or configuration, with a message that says what to fix."""


def one_line(message: str) -> str:
    """`message` on one line: its lines stripped and joined with '; ' (a user error is one line)."""
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
