"""``read_events``: one entry point that dispatches on extension and header to the right reader."""

from neuroclip.events.io.dispatch import FORMATS, detect_format, read_events, write_events

__all__ = ["FORMATS", "detect_format", "read_events", "write_events"]
