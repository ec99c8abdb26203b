"""User-facing errors.

`ArchsimError` is raised for bad input (unknown model names, bad configs, images
out of range, ...). The CLI prints its message and exits with status 2 instead of
showing a traceback from deep inside a library.
"""


class ArchsimError(Exception):
    """Bad input or configuration, with a message that says what to fix."""
