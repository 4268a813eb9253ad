"""The patch an answer carries, made with ``jsonpatch`` (RFC 6902)."""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) from raw parts: ``pointer("jobs", "a/b")``
    is ``/jobs/a~1b``."""
    return str(jsonpointer.JsonPointer.from_parts([str(p) for p in parts]).path)


def patch_between(before: Any, after: Any) -> list[dict[str, Any]]:
    """The operations that turn `before` into `after`."""
    return list(jsonpatch.make_patch(before, after).patch)


class ChangeConflict(Exception):
    """An operation that does not apply to the state it was made for."""


class Change:
    """The operations of one answer's patch.

    With the call's `state` (``None`` when tabhub left it out), each
    operation is applied to it at once, in place, so later code (the
    summary) sees the state after the change, and an operation that would
    not apply is found here: :class:`ChangeConflict`. Without it, the
    operations are only recorded (tabhub applies them).
    """

    def __init__(self, state: Any = None) -> None:
        self.state = state
        self.ops: list[dict[str, Any]] = []

    def add(self, path: str, value: Any) -> None:
        """Adds `value` at `path` (`/list/-` appends)."""
        self.apply({"op": "add", "path": path, "value": value})

    def replace(self, path: str, value: Any) -> None:
        self.apply({"op": "replace", "path": path, "value": value})

    def remove(self, path: str) -> None:
        self.apply({"op": "remove", "path": path})

    def apply(self, op: dict[str, Any]) -> None:
        """Records any RFC 6902 operation (and applies it to the state)."""
        if self.state is not None:
            try:
                jsonpatch.apply_patch(self.state, [op], in_place=True)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
                raise ChangeConflict(f"{op['op']} {op['path']}: {e}") from e
        self.ops.append(op)

    def to(self, after: Any) -> None:
        """Records the operations from the state to `after` (needs the
        state): write the new state, let ``jsonpatch`` find the patch."""
        if self.state is None:
            raise ChangeConflict("the state is not known: give operations instead")
        for op in patch_between(self.state, after):
            self.apply(op)
