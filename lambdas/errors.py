"""Error names raised by handlers; the ASL ``Retry`` and ``Catch`` blocks match on these names."""


class GateClosedTooLong(Exception):
    """The gate stayed closed for more than the process's maximum pause."""


class InvalidEvent(Exception):
    """The task input failed validation: a wiring bug, never retried."""


class OutcomeNotRecorded(Exception):
    """The chunk was posted but writing its outcomes failed; the message carries the outcome.

    Retried by Step Functions (the retry is answered by the chunk's idempotency record, with no
    second request to finance); when the retries run out, the ``Catch`` path records the outcome
    from the message instead of looking the journals up.
    """
