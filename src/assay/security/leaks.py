"""Finding secrets committed to a project's files: known key formats, password-like assignments in
config, and high-entropy strings. `assay doctor` runs it; a finding shows the value masked.

False positives are what make such a scan ignored, so each rule is narrow (decision 0023):
- known formats are anchored on their fixed prefixes (AKIA/ASIA, ghp_, xoxb-, PEM headers);
- `password=`/`secret=`/`token=` assignments count in config files (any value) and in code only
  for a quoted literal; references (env:, file:, vault://, aws-sm://, ${VAR}) and placeholders
  (`<...>`, `changeme`-style words, `***`) are not secrets;
- high entropy means a base64-like run of at least 20 characters that mixes upper case, lower
  case and digits with a Shannon entropy of at least 4.2 bits per character, or a hex run of at
  least 32 only on a line that also says key/secret/token/password; hex digests (sha256, git
  commits) are everywhere in Assay's own files and are never reported on their own; nor are
  runs inside a URL, or at least 60% words (identifiers such as Mean_Acc1298_Std_Mem40);
- a line that says `assay: allow-secret` is skipped (a test fixture, a documented example).
"""

from __future__ import annotations

import math
import re
import string
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 1 << 20  # larger files are data, not code or config
ALLOW_MARK = "assay: allow-secret"
SKIP_DIRS = frozenset({".assay", ".git", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache"})
CONFIG_SUFFIXES = frozenset({".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env", ".json", ".properties"})
MIN_ENTROPY_LENGTH = 20
MIN_ENTROPY_BITS = 4.2
MIN_HEX_LENGTH = 32
WORD_SHARE = 0.6  # a run at least this much made of words is an identifier, not a key


@dataclass(frozen=True, slots=True)
class LeakFinding:
    """One suspected secret: where, what kind, the value masked, and what to do."""

    path: str  # relative to the scanned folder
    line: int
    kind: str
    masked: str
    advice: str


_KNOWN: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
     "deactivate the key in AWS IAM, then read credentials from the AWS environment or a role"),
    ("aws-secret-access-key",
     re.compile(r"(?i)aws_?secret_?access_?key\s*[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})\b"),
     "rotate the key in AWS IAM; use a role or aws-sm:// references instead"),
    ("private-key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
     "revoke the key pair, remove the file from history, and mount it as a file: secret (mode 600)"),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b"),
     "revoke the token in GitHub settings and reference a new one as env:NAME or vault://"),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
     "revoke the token in Slack and reference a new one as env:NAME or vault://"),
    ("slack-webhook", re.compile(r"https://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+"),
     "regenerate the webhook in Slack and put its URL in a secret reference"),
)
# Matched from the keyword on (never from every word start, which costs quadratic time on a long
# line of short words); the rest of the name is read backwards by `_name_before`.
_ASSIGNMENT = re.compile(
    r"(?i)(password|passwd|pwd|secret|token|api_?key|access_?key|private_?key|credentials?)"
    r"[\"']?\s*[:=]\s*(\"[^\"]*\"|'[^']*'|[^\s#,;]+)"
)
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_REFERENCE = re.compile(r"^(?:env:|file:|secret://|vault://|aws-sm://|\$\{?|\{\{|%\(|<)")
_PLACEHOLDERS = frozenset({"", "none", "null", "true", "false", "changeme", "change-me", "xxx", "***", "...", "todo",
                           "example", "redacted", "secret", "password", "token", "str", "optional"})
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{%d,}={0,2}" % MIN_ENTROPY_LENGTH)
_HEX_RUN = re.compile(r"\b[0-9a-fA-F]{%d,}\b" % MIN_HEX_LENGTH)
_SECRET_WORDS = re.compile(r"(?i)key|secret|token|passw")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_WORDISH = re.compile(r"[A-Z]?[a-z]{2,}")


def scan_text(path: str, text: str) -> list[LeakFinding]:
    """The findings in one file's text (`path` is only used to name them)."""
    config = Path(path).suffix.lower() in CONFIG_SUFFIXES or Path(path).name.startswith(".env")
    found: list[LeakFinding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if ALLOW_MARK in line:
            continue
        found.extend(_scan_line(path, number, line, config))
    return found


def _scan_line(path: str, number: int, line: str, config: bool) -> Iterator[LeakFinding]:
    claimed: list[tuple[int, int]] = []
    for kind, pattern, advice in _KNOWN:
        for match in pattern.finditer(line):
            claimed.append(match.span())
            shown = match.group(0) if kind == "private-key" else mask(match.group(match.lastindex or 0))
            yield LeakFinding(path, number, kind, shown, advice)
    for match in _ASSIGNMENT.finditer(line):
        raw = match.group(2)
        quoted = raw[:1] in "\"'" and raw[-1:] == raw[:1] and len(raw) >= 2
        value = raw[1:-1] if quoted else raw
        if (not config and not quoted) or _overlaps(match.span(2), claimed) or not _looks_secret(value):
            continue
        claimed.append(match.span(2))
        yield LeakFinding(path, number, "password-assignment", f"{_name_before(line, match)}={mask(value)}",
                          "move the value to a provider and write a reference: env:NAME, file:PATH, vault://, aws-sm://")
    urls = [url.span() for url in _URL.finditer(line)] if "://" in line else []
    for match in _BASE64_RUN.finditer(line):
        token = match.group(0)
        if _overlaps(match.span(), claimed) or _overlaps(match.span(), urls) or not _high_entropy(token):
            continue
        claimed.append(match.span())
        yield LeakFinding(path, number, "high-entropy-string", mask(token),
                          "if this is a credential, rotate it and reference it from a provider; "
                          f"if not, add `{ALLOW_MARK}` in a comment on the line")
    if _SECRET_WORDS.search(line):
        for match in _HEX_RUN.finditer(line):
            if _overlaps(match.span(), claimed):
                continue
            yield LeakFinding(path, number, "hex-key", mask(match.group(0)),
                              "if this is a key, rotate it and reference it from a provider; "
                              f"if it is a digest, add `{ALLOW_MARK}` in a comment on the line")


def _name_before(line: str, match: re.Match[str]) -> str:
    """The whole name the keyword ends (`db_password` for `password`), at most 40 characters back."""
    start = match.start(1)
    while start > 0 and match.start(1) - start < 40 and line[start - 1] in _NAME_CHARS:
        start -= 1
    return line[start:match.end(1)]


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s character distribution."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _high_entropy(token: str) -> bool:
    body = token.rstrip("=")
    if len(body) < MIN_ENTROPY_LENGTH or re.fullmatch(r"[0-9a-fA-F]+", body):
        return False  # hex runs have their own, keyword-gated rule
    mixed = any(c.isupper() for c in body) and any(c.islower() for c in body) and any(c.isdigit() for c in body)
    if not mixed or shannon_entropy(body) < MIN_ENTROPY_BITS:
        return False
    # Identifiers (Mean_Acc1298_Std_Mem40_Centroid, _V1ValidatorWithValues) are mostly words (a
    # capital, then 2+ lower-case letters); random keys rarely are (decision 0023 measures it).
    return sum(len(word) for word in _WORDISH.findall(body)) < WORD_SHARE * len(body)


def _looks_secret(value: str) -> bool:
    lowered = value.strip().lower()
    if len(lowered) < 4 or lowered in _PLACEHOLDERS or _REFERENCE.match(value.strip()):
        return False
    return not set(lowered) <= {"*", "x", "."}


def _overlaps(span: tuple[int, int], claimed: Iterable[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in claimed)


def mask(value: str) -> str:
    """A value for a report: of 20 characters or more, the first 4 (a token's public prefix such as
    AKIA or ghp_, enough to find it) then `*`s and the length; shorter ones, `*`s and the length only,
    since 4 characters of a short password are too much of it."""
    if len(value) < 20:
        return "*" * min(len(value), 16) + f" ({len(value)} chars)"
    return value[:4] + "*" * 16 + f" ({len(value)} chars)"


def project_files(root: Path) -> list[Path]:
    """The files to scan: what git tracks if `root` is in a git work tree, else every file under
    it; without the SKIP_DIRS folders, and files over MAX_FILE_BYTES."""
    listed = _git_files(root)
    if listed is None:
        listed = [path for path in sorted(root.rglob("*")) if path.is_file()]
    keep = []
    for path in listed:
        parts = path.relative_to(root).parts
        if any(part in SKIP_DIRS for part in parts[:-1]) or not path.is_file():
            continue
        if path.stat().st_size <= MAX_FILE_BYTES:
            keep.append(path)
    return keep


def _git_files(root: Path) -> list[Path] | None:
    try:
        done = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                               "--exclude-standard", "."], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [root / name for name in done.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def scan_files(root: Path, files: Iterable[Path]) -> list[LeakFinding]:
    """Scan each text file (a file with a NUL byte in its first 8 KiB is binary and skipped)."""
    found: list[LeakFinding] = []
    for path in files:
        raw = path.read_bytes()
        if b"\0" in raw[:8192]:
            continue
        found.extend(scan_text(path.relative_to(root).as_posix(), raw.decode("utf-8", "replace")))
    return found


__all__ = [
    "ALLOW_MARK",
    "MAX_FILE_BYTES",
    "MIN_ENTROPY_BITS",
    "MIN_ENTROPY_LENGTH",
    "LeakFinding",
    "mask",
    "project_files",
    "scan_files",
    "scan_text",
    "shannon_entropy",
]
