"""What one process keeps from one job to the next: `ProcessReuse`, in one place.

A sweep run in one process (the basic launcher, or a joblib worker taking job
after job) would otherwise redo, for every job, work whose result an earlier
job already holds. Four kinds of things are kept, each a bounded cache:

- `"sources"`: a prepared TFDS dataset read into arrays, by builder and folder;
- `"evaluation pipelines"`: a source's validation and test `tf.data` pipelines,
  by source and validation split (they hold no state from one pass to the next);
- `"compiled models"`: one compiled model per graph (see
  `custom_dense_lab.training.compiled_models`), whose traced train, test and
  forward functions later jobs of the same graph train through, after loading
  their own initial weights and optimizer state into it;
- `"forward passes"`: the traced inference function of a model, held only as
  long as the model lives.

None of it changes a result: what a job computes is the same graph from the
same state on the same data, whichever jobs ran before it. `trainer.reuse=false`
gives every job an empty `ProcessReuse` of its own, so nothing carries over.
"""

import collections
import weakref

# How many entries of each kind a process keeps, the least recently used dropped first.
LIMITS = {"sources": 4, "evaluation pipelines": 4, "compiled models": 8}
# Kinds keyed by an object they must not keep alive (a model).
_WEAKLY_KEYED = ("forward passes",)


class ProcessReuse:
    """Bounded caches, one per kind of thing, shared by the jobs that use this object."""

    def __init__(self):
        self._entries = {kind: collections.OrderedDict() for kind in LIMITS}
        self._entries.update({kind: weakref.WeakKeyDictionary() for kind in _WEAKLY_KEYED})

    def get(self, kind, key, make):
        """Returns the entry of `kind` for `key`, made by `make()` the first time.

        Args:
            kind: One of `LIMITS`, or `"forward passes"` (keyed by a model).
            key: What identifies the entry within its kind.
            make: Builds the entry when it is missing.

        Returns:
            The kept entry, or the new one.
        """
        entries = self._entries[kind]
        if key not in entries:
            entries[key] = make()
        if kind in LIMITS:
            entries.move_to_end(key)
            while len(entries) > LIMITS[kind]:
                entries.popitem(last=False)
        return entries[key]

    def put(self, kind, key, value):
        """Keeps `value` as the entry of `kind` for `key`, replacing any earlier one."""
        self._entries[kind].pop(key, None)
        return self.get(kind, key, lambda: value)

    def size(self, kind):
        """How many entries of `kind` are kept."""
        return len(self._entries[kind])

    def clear(self):
        """Forgets every entry."""
        for entries in self._entries.values():
            entries.clear()


_shared = ProcessReuse()


def for_job(enabled):
    """The `ProcessReuse` a job uses: the process's own, or an empty one for it alone.

    Args:
        enabled: `trainer.reuse` of the job's config.
    """
    return _shared if enabled else ProcessReuse()
