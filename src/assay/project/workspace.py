"""`Project`: one project folder with its spec and stores, and every operation the CLI offers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from assay.clock import Clock, SystemClock
from assay.errors import NotFoundError, RegistryError, SpecNotFoundError
from assay.project.settings import STATE_DIR, Settings
from assay.registry.artifacts import FsspecArtifactStore
from assay.registry.records import ModelVersion
from assay.registry.sql import SqlMetadataStore
from assay.registry.store import ArtifactStore, MetadataStore
from assay.security.identity import Action, Identity, identity_for
from assay.security.keys import key_identity, verified_record
from assay.security.providers import SecretProviders
from assay.security.secrets import Secret, remember_secret, resolve_secret
from assay.spec.loader import SPEC_FILENAME, load_spec
from assay.spec.model import Spec

_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_.-]*)(?:(?::(?P<version>\d+))|(?:@(?P<alias>[A-Za-z0-9_.-]+)))?$")


def new_run_id() -> str:
    return f"run-{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """`name:version`, `name@alias`, or bare `name` (the newest version)."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        match = _REF.match(text.strip())
        if match is None:
            raise RegistryError(
                f"{text!r} is not a model reference",
                hint="use NAME:VERSION (credit-default:3), NAME@ALIAS (credit-default@production) or NAME",
            )
        version = match.group("version")
        return cls(match.group("name"), int(version) if version else None, match.group("alias"))


class Project:
    """A project folder (assay.yaml + data) bound to its metadata and artifact stores.

    Open with `Project.open(path)`; use as a context manager or call `close()`.
    """

    def __init__(
        self,
        root: Path,
        *,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        clock: Clock,
        actor: str,
        new_id: Callable[[], str] = new_run_id,
        identity: Identity | None = None,
        actor_source: str = "os-user",
    ) -> None:
        self.root = root
        self.metadata = metadata
        self.artifacts = artifacts
        self.clock = clock
        self.actor = identity.name if identity is not None else actor
        self.new_id = new_id
        self._identity = identity
        self._actor_source = actor_source
        self._owns_stores = True

    @classmethod
    def open(cls, path: Path | str = ".", *, settings: Settings | None = None, clock: Clock | None = None) -> Project:
        """Open the project in `path`: connect the stores (embedded default: SQLite and a folder in
        `.assay/`) and bring the metadata schema up to date."""
        root = Path(path).resolve()
        if not (root / SPEC_FILENAME).is_file():
            raise SpecNotFoundError(
                f"{root} is not an Assay project (no {SPEC_FILENAME})",
                hint="run this in a project folder, pass --project DIR, or create one with `assay init`",
            )
        settings = settings or Settings()
        state = root / STATE_DIR
        db_url = settings.db_url
        if db_url is None and settings.db_url_secret:
            db_url = resolve_secret(settings.db_url_secret, SecretProviders(base_dir=root)).reveal()
        if db_url is None:
            state.mkdir(parents=True, exist_ok=True)
            db_url = f"sqlite:///{state / 'assay.db'}"
        metadata = SqlMetadataStore.from_url(db_url)
        try:
            if not metadata.is_migrated():
                metadata.migrate()
        except Exception:
            metadata.close()
            raise
        identity = None
        if settings.api_key is not None:
            try:
                key = remember_secret(Secret(settings.api_key.get_secret_value())).reveal()  # masked in every output
                record = verified_record(key, metadata.get_api_key)
            except Exception:
                metadata.close()
                raise
            identity = key_identity(record)
        artifacts = FsspecArtifactStore(settings.artifacts_url or str(state / "artifacts"))
        return cls(root, metadata=metadata, artifacts=artifacts, clock=clock or SystemClock(),
                   actor=settings.resolved_actor(), identity=identity, actor_source=settings.actor_source)

    def close(self) -> None:
        if self._owns_stores:
            self.metadata.close()

    # --- who is acting ----------------------------------------------------------

    @property
    def identity(self) -> Identity:
        """Who is acting and with which roles: an API key's, or `actor`'s under the spec's `access`
        (local mode, with no users declared: admin)."""
        if self._identity is None:
            self._identity = identity_for(self.actor, self.load_spec()[0].access, source=self._actor_source)
        return self._identity

    def require(self, action: Action, *, subject: str = "") -> Identity:
        """The acting identity if one of its roles grants `action`; `PermissionDeniedError` otherwise."""
        return self.identity.require(action, subject=subject)

    def acting_as(self, identity: Identity) -> Project:
        """This project and its stores with `identity` acting (a server acting for one request).
        Closing the view leaves the stores open."""
        view = Project(self.root, metadata=self.metadata, artifacts=self.artifacts, clock=self.clock,
                       actor=identity.name, new_id=self.new_id, identity=identity)
        view._owns_stores = False
        return view

    def __enter__(self) -> Project:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def spec_path(self) -> Path:
        return self.root / SPEC_FILENAME

    @property
    def scratch_dir(self) -> Path:
        return self.root / STATE_DIR / "tmp"

    def load_spec(self) -> tuple[Spec, str]:
        """The spec and its exact text (the text is what a run snapshots)."""
        spec = load_spec(self.spec_path)
        return spec, self.spec_path.read_text(encoding="utf-8")

    def resolve_model(self, ref: str | ModelRef) -> ModelVersion:
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if parsed.version is not None:
            return self.metadata.get_model(parsed.name, parsed.version)
        if parsed.alias is not None:
            version = self.metadata.get_alias(parsed.name, parsed.alias)
            if version is None:
                raise NotFoundError(
                    "alias",
                    f"{parsed.name}@{parsed.alias}",
                    hint=f"set it with `assay models alias {parsed.name}:VERSION {parsed.alias}`",
                )
            return self.metadata.get_model(parsed.name, version)
        versions = self.metadata.list_models(name=parsed.name, limit=1)
        if not versions:
            raise NotFoundError("model", parsed.name)
        return versions[0]


__all__ = ["ModelRef", "Project", "new_run_id"]
