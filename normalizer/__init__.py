"""Pure, sans-IO conversion of raw channel input into the common :class:`Inquiry`.

Nothing in this package performs I/O: every function takes bytes, strings or mappings
and returns values, so it can be tested with byte fixtures alone.
"""

from normalizer.inquiry import Attachment, Inquiry

__all__ = ["Attachment", "Inquiry"]
