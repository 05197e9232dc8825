"""Seeds for independent random streams, derived from a user seed and a purpose."""

from __future__ import annotations

import hashlib


def derive_seed(*parts) -> int:
    """A 62-bit seed that depends only on ``parts`` (stable across processes and Python runs).

    Use it to give independent streams to different purposes of one user seed, e.g.
    ``derive_seed("measurement", seed)`` and ``derive_seed("operator", seed)``, or one stream per
    item of a job: ``derive_seed(job_seed, item_id)``.
    """
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 2
