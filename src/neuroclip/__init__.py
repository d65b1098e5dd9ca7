"""neuroclip: event-camera recordings recognised with CLIP (NeuroCLIP) and distilled into spiking CLIP (SpikeCLIP)."""

from neuroclip.errors import (
    ConfigError,
    EmptyStreamError,
    EventFileError,
    InvalidEventsError,
    NeuroclipError,
    UnknownFormatError,
)
from neuroclip.events import (
    EVENT_DTYPE,
    EventStream,
    as_events,
    iter_events,
    make_events,
    read_events,
    summarize_file,
    write_events,
)

__version__ = "0.1.0"

__all__ = [
    "EVENT_DTYPE",
    "ConfigError",
    "EmptyStreamError",
    "EventFileError",
    "EventStream",
    "InvalidEventsError",
    "NeuroclipError",
    "UnknownFormatError",
    "as_events",
    "make_events",
    "iter_events",
    "read_events",
    "summarize_file",
    "write_events",
    "__version__",
]
