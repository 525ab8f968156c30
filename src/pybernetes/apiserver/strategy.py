"""What a resource declares: the hooks the generic store calls.

A kind supplies a module-level :class:`Strategy` (see ``registry/``); the
generic store (``store.py``) runs the fixed steps — fill system metadata,
prepare, validate, admit, write, decorate — and calls these hooks. The default
hooks do what most kinds need, so a strategy overrides only what differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..api import defaults, validation
from ..api.field_errors import FieldError
from ..api.resources import ResourceInfo

if TYPE_CHECKING:
    from .store import GenericStore

__all__ = ["Strategy", "StatusStrategy"]


class Strategy:
    """Default behaviour of a resource; subclass and override hooks."""

    # Bump metadata.generation when the spec changes (RCs and friends).
    tracks_generation = False
    # Whether `status` is a subresource: the main resource cannot change it.
    has_status = False
    # DELETE answers with the object (as Kubernetes does for pods, services, namespaces)
    # rather than a Success Status.
    return_deleted_object = False

    def __init__(self, resource: ResourceInfo):
        self.resource = resource

    # -- create ------------------------------------------------------------
    def prepare_for_create(self, obj: dict) -> None:
        """Clear what a client may not set on create (status for kinds with a status subresource)."""
        if self.has_status:
            obj.pop("status", None)
        if self.tracks_generation:
            obj["metadata"]["generation"] = 1

    def default(self, obj: dict) -> None:
        defaults.apply_defaults(self.resource.kind, obj)

    def validate(self, obj: dict) -> list[FieldError]:
        return validation.validate(self.resource.kind, obj)

    async def before_create(self, store: GenericStore, obj: dict) -> None:
        """Admission-like work needing I/O (allocations). Undo in ``after_create_failed``."""

    async def after_create_failed(self, store: GenericStore, obj: dict) -> None:
        """Release what ``before_create`` took when the write did not happen."""

    # -- update ------------------------------------------------------------
    def prepare_for_update(self, new: dict, old: dict) -> None:
        """Keep what the main resource may not change (status) and bump generation."""
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if self.tracks_generation:
            gen = old["metadata"].get("generation", 1)
            new["metadata"]["generation"] = gen + 1 if new.get("spec") != old.get("spec") else gen

    def validate_update(self, new: dict, old: dict) -> list[FieldError]:
        return validation.validate(self.resource.kind, new, old)

    async def before_update(self, store: GenericStore, new: dict, old: dict) -> None:
        """I/O work on update (e.g. allocating a nodePort when a service becomes NodePort)."""

    async def after_delete(self, store: GenericStore, obj: dict) -> None:
        """Release what the object held (cluster IPs, node ports)."""

    # -- delete --------------------------------------------------------------
    def graceful_delete_seconds(self, obj: dict, requested: int | None) -> int:
        """Grace period for a delete: 0 deletes at once; >0 only marks the object."""
        return 0

    def blocks_deletion(self, obj: dict) -> bool:
        """A kind-specific finalizer still pending (namespaces' spec.finalizers)."""
        return False

    def on_terminating(self, obj: dict) -> None:
        """Edit an object being marked for deletion (namespaces turn Terminating)."""


class StatusStrategy(Strategy):
    """The `/status` subresource: only status changes; the rest comes from the old object."""

    def __init__(self, parent: Strategy):
        super().__init__(parent.resource)
        self.parent = parent

    def prepare_for_update(self, new: dict, old: dict) -> None:
        for k, v in old.items():
            if k not in ("status", "metadata"):
                new[k] = v
        for k in list(new):
            if k not in old and k not in ("status", "metadata"):
                del new[k]
        # Status writers may not move the object's lifecycle fields.
        meta, old_meta = new["metadata"], old["metadata"]
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "generation"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)

    def default(self, obj: dict) -> None:
        self.parent.default(obj)

    def validate_update(self, new: dict, old: dict) -> list[FieldError]:
        # Spec comes from the old object, so the full update rules check metadata and status.
        return validation.validate(self.resource.kind, new, old)
