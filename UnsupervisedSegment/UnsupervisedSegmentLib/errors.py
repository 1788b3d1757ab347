"""The one exception type that carries a user's mistake (bad file, bad option) to the surface."""


class UserInputError(ValueError):
    """A problem with the user's input, told in one line: what is wrong, where, what to do."""
