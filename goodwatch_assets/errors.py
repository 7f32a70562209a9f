"""The project's own exceptions: each names what is wrong in words a user can act on."""


class GoodwatchError(Exception):
    """Base class of every error the project raises on purpose."""


class ConfigurationError(GoodwatchError):
    """A setting is missing, malformed, or points at something that does not answer.

    The message always starts with the setting's name (for example ``DATABASE_URL: …``) so that
    a user reading one line knows which knob to turn.
    """

    def __init__(self, setting: str, problem: str):
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class ParseError(GoodwatchError):
    """A page or response could not be turned into a valid record.

    ``body`` is the raw content, kept so that the item can be quarantined and replayed later.
    """

    def __init__(self, problem: str, body: str | bytes | None = None):
        self.body = body
        super().__init__(problem)
