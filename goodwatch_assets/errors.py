"""The project's own exceptions: each names what is wrong in words a user can act on."""

import functools
from collections.abc import Iterator
from contextlib import contextmanager


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


class DatabaseUnavailable(GoodwatchError):
    """The serving database stopped answering in the middle of a run (restarted, crashed, network gone).

    What the run committed before stays; the run can simply be run again once the database is back.
    """


class ParseError(GoodwatchError):
    """A page or response could not be turned into a valid record.

    ``body`` is the raw content, kept so that the item can be quarantined and replayed later; ``url`` the page it came
    from (see :func:`parsing`), kept with it: a page-finding source's replay verifies the page by it.
    """

    def __init__(self, problem: str, body: str | bytes | None = None, url: str | None = None):
        self.body = body
        self.url = url
        super().__init__(problem)


class MissingData(ParseError):
    """A page answered 200 without any of the data the site's pages carry (no score block, no article): a consent
    or challenge page, or a page of another kind. Several in a row mean the site is blocking us."""


@contextmanager
def parsing(url: str) -> Iterator[None]:
    """Parse what ``url`` answered inside this block: a ParseError that escapes it names ``url`` as where its body came
    from, unless it names a page already (a sub-page's, parsed further in)."""
    try:
        yield
    except ParseError as error:
        if error.url is None:
            error.url = url
        raise


_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError)


def rejects_malformed(what: str):
    """Make a parser raise :class:`ParseError` (with the raw body, for quarantine) when its input has a shape it does
    not expect (a list where an object belongs, a number where text does) instead of the Python error that shape
    happened to cause. Every parser of an upstream wears it, so a malformed page is always rejected the same way."""

    def decorate(parse):
        @functools.wraps(parse)
        def parsing(body, *args, **kwargs):
            try:
                return parse(body, *args, **kwargs)
            except ParseError:
                raise
            except _SHAPE_ERRORS as error:
                raw = body if isinstance(body, str | bytes) else None
                raise ParseError(f"{what} has an unexpected shape: {type(error).__name__}: {error}", raw) from error

        return parsing

    return decorate
