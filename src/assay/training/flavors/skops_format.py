"""skops persistence made byte-deterministic, and loading that trusts only declared modules.

skops names the arrays in its zip after Python object ids and stamps the current time, so two
identical models give different bytes. We renumber ids in order of first appearance and fix the
timestamps, which makes the artifact a pure function of the model (see docs/decisions/0003).
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import skops.io as sio

from assay.errors import ArtifactError

# Not "builtins.": skops already trusts the harmless builtin types, and trusting the rest would let
# an artifact reference eval/exec/getattr.
SAFE_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "collections.", "assay.")
# Exact names outside those packages that skops lists but scikit-learn objects routinely hold;
# skops still checks what a partial wraps on its own.
SAFE_TYPES = frozenset({"functools.partial"})
_EPOCH = (1980, 1, 1, 0, 0, 0)


_ID_OR_FILE = re.compile(r'"__id__": (\d+)|"file": "(\d+)\.npy"')


def _renumber(schema_text: str) -> tuple[str, dict[int, int]]:
    """Replace object ids (in `__id__` fields and array file names) by 1, 2, 3... in order of
    first appearance. JSON escapes quotes inside strings, so the pattern only matches real keys."""
    ids: dict[int, int] = {}

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return f'"__id__": {ids.setdefault(int(match.group(1)), len(ids) + 1)}'
        return f'"file": "{ids.setdefault(int(match.group(2)), len(ids) + 1)}.npy"'

    return _ID_OR_FILE.sub(replace, schema_text), ids


def dumps_canonical(obj: Any) -> bytes:
    """skops bytes with object ids renumbered and timestamps fixed: identical models, identical bytes."""
    raw = sio.dumps(obj, compression=zipfile.ZIP_STORED)
    with zipfile.ZipFile(io.BytesIO(raw)) as source:
        schema, ids = _renumber(source.read("schema.json").decode("utf-8"))
        files: dict[str, bytes] = {}
        for info in source.infolist():
            if info.filename == "schema.json":
                continue
            stem, ext = info.filename.split(".", 1)
            name = f"{ids.setdefault(int(stem), len(ids) + 1)}.{ext}" if stem.isdigit() else info.filename
            files[name] = source.read(info)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, payload in [("schema.json", schema.encode("utf-8")), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, payload, compresslevel=1)
    return out.getvalue()


def loads_trusted(data: bytes, *, trusted_modules: tuple[str, ...] = ()) -> Any:
    """Load skops bytes, refusing any type outside scikit-learn, numpy, scipy and the declared modules."""
    prefixes = SAFE_MODULE_PREFIXES + tuple(f"{m}." for m in trusted_modules)
    untrusted = sio.get_untrusted_types(data=data)
    refused = [t for t in untrusted if not t.startswith(prefixes) and t not in SAFE_TYPES]
    if refused:
        raise ArtifactError(
            f"the model artifact contains types Assay does not trust: {', '.join(sorted(refused))}",
            hint="only scikit-learn, numpy, scipy and the module named in model.factory are trusted; "
            "if these types are yours, put them in that module",
        )
    return sio.loads(data, trusted=untrusted)


__all__ = ["SAFE_MODULE_PREFIXES", "SAFE_TYPES", "dumps_canonical", "loads_trusted"]
