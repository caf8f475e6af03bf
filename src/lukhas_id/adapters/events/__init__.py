"""Event sinks: the in-process fan-out with its subscribers (the log lines; a list tests read)."""
