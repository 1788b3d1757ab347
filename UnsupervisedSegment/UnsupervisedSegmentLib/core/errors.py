"""The one exception type that carries a user's mistake (bad file, bad option) to the surface."""


class UserInputError(ValueError):
    """A problem with the user's input, told in one line: what is wrong, where, what to do."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
