"""What one process keeps from one job to the next: bounded caches that change no result
(`trainer.reuse=false` gives a job empty ones of its own)."""

import collections
import weakref

# How many entries of each kind a process keeps, the least recently used dropped first (the
# sweep's paired timing times the compiled models still kept; the studies hold 16 graphs).
LIMITS = {"sources": 4, "evaluation pipelines": 4, "compiled models": 32}


class ProcessReuse:
    def __init__(self):
        self._entries = {kind: collections.OrderedDict() for kind in LIMITS}
        self._entries["forward passes"] = weakref.WeakKeyDictionary()  # keyed by a model

    def get(self, kind, key, make):
        """The entry of `kind` for `key`, made by `make()` the first time."""
        entries = self._entries[kind]
        if key not in entries:
            entries[key] = make()
        if kind in LIMITS:
            entries.move_to_end(key)
            while len(entries) > LIMITS[kind]:
                entries.popitem(last=False)
        return entries[key]

    def put(self, kind, key, value):
        self._entries[kind][key] = value
        return self.get(kind, key, None)

    def size(self, kind):
        return len(self._entries[kind])

    def clear(self):
        for entries in self._entries.values():
            entries.clear()


_shared = ProcessReuse()


def for_job(enabled):
    """The process's `ProcessReuse` for `trainer.reuse=true`, else an empty one."""
    return _shared if enabled else ProcessReuse()
