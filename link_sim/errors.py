"""The exceptions for what a user can cause and fix.

A bad option, scenario, architecture or file raises `InputError` (or one
of its file-system forms); the ``deeprx`` command line reports it in one
line with exit code 2. Any other exception is a bug and keeps its
traceback. `InputError` is a `ValueError`, and its file forms are
`FileNotFoundError` and `FileExistsError`, so code that catches those
keeps working.
"""


class InputError(ValueError):
    """Input a user can fix: an option, a scenario, an architecture or a file's content."""

    # raised while a tf.function traces, it reaches the caller as it is: TensorFlow's AutoGraph
    # would otherwise wrap it in a StagingError with its own multi-line trace
    ag_pass_through = True


class MissingInputError(InputError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class OutputExistsError(InputError, FileExistsError):
    """Writing would replace results that exist (and replacing was not asked for)."""
