"""Event streams and the readers/writers of real sensor file formats."""

from neuroclip.events.io import FORMATS, iter_events, read_events, summarize_file, write_events
from neuroclip.events.stream import EVENT_DTYPE, EventStream, as_events, check_events, make_events

__all__ = [
    "EVENT_DTYPE",
    "FORMATS",
    "EventStream",
    "as_events",
    "check_events",
    "iter_events",
    "make_events",
    "read_events",
    "summarize_file",
    "write_events",
]
