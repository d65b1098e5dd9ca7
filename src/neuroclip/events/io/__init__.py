"""``read_events``: one entry point that dispatches on extension and header to the right reader; ``iter_events``
and ``summarize_file`` for recordings larger than memory."""

from neuroclip.events.io.dispatch import FORMATS, detect_format, read_events, write_events
from neuroclip.events.io.streaming import STREAMED, iter_events, summarize_file

__all__ = ["FORMATS", "STREAMED", "detect_format", "iter_events", "read_events", "summarize_file", "write_events"]
