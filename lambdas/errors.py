"""Error names raised by handlers; the ASL ``Retry`` and ``Catch`` blocks match on these names."""


class GateClosedTooLong(Exception):
    """The gate stayed closed for more than the process's maximum pause."""


class InvalidEvent(Exception):
    """The task input failed validation: a wiring bug, never retried."""
