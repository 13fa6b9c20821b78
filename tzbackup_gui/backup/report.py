"""What a backup run is asked to do (:class:`BackupOptions`) and what it did (:class:`RunReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import NetworkError, RateLimitedError, ServerError, ServiceError, TzBackupError

__all__ = [
    "ALL_SECTIONS", "BackupOptions", "PersonalityResult", "RunReport", "parse_sections", "run_stop_error",
]

#: Every section a backup can take, in the order a run takes them. ``profile`` is always taken (it identifies
#: the personality and its folder); the others can be left out with ``BackupOptions.sections``.
ALL_SECTIONS: tuple[str, ...] = (
    "profile", "memories", "knowledge", "training", "personalization", "chat", "images",
)


def parse_sections(text: str) -> frozenset[str] | None:
    """A comma list of section names (``--sections``) as ``BackupOptions.sections``: ``None`` for ``all``
    (or every name); ``profile`` is always added. Raises ``ValueError`` naming the valid names."""
    names = [part.strip().casefold() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError(f"No section named. Valid sections: {', '.join(ALL_SECTIONS)} (or all).")
    unknown = [name for name in names if name != "all" and name not in ALL_SECTIONS]
    if unknown:
        raise ValueError(
            f"Unknown section{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}. "
            f"Valid sections: {', '.join(ALL_SECTIONS)} (or all)."
        )
    chosen = frozenset(names) | {"profile"}
    if "all" in chosen or chosen >= frozenset(ALL_SECTIONS):
        return None
    return chosen


@dataclass(frozen=True)
class BackupOptions:
    full: bool = False  # walk every memory page (reconcile) even when an early stop would do
    reconcile_age_days: float = 7.0  # a full walk happens when the last one is older than this
    allow_not_owned: bool = False  # back up the public profile of a personality we do not own
    lock_wait: float = 0.0  # seconds to wait for another tzbackup writing the same data dir
    page_limit: int = 20  # memories per page (20 is the service's maximum)
    #: sections to back up (names from ALL_SECTIONS); None = all of them. "profile" is implied.
    sections: frozenset[str] | None = None

    def wants(self, section: str) -> bool:
        """Whether this run backs up ``section`` (the profile always)."""
        return section == "profile" or self.sections is None or section in self.sections


@dataclass
class PersonalityResult:
    """The outcome for one personality. ``status``: ok | failed | refused | cancelled | not_started."""

    slug: str
    folder: str = ""
    display_name: str = ""
    status: str = "not_started"
    new: int = 0
    edited: int = 0
    deleted_upstream: int = 0  # newly noticed in this run
    total: int = 0  # distinct memories stored locally
    server_total: int | None = None
    requests: int = 0
    full_walk: bool = False
    error: str = ""
    error_kind: str = ""
    hint: str = ""
    #: status per section run after the memories ("knowledge", "training", "personalization", "chat",
    #: "images"): "ok" | "failed"; sections not wanted in this run are absent
    sections: dict[str, str] = field(default_factory=dict)
    #: profile fields added / removed / changed by this run (volatile counters ignored); None = unchanged
    profile_changes: dict[str, list[str]] | None = None

    @property
    def failed_sections(self) -> list[str]:
        """Sections that failed in this run (the memories may still be fine): a partial failure."""
        return [name for name, status in self.sections.items() if status != "ok"]

    @property
    def summary_status(self) -> str:
        """``status``, plus the sections that failed: "ok (knowledge failed)"."""
        failed = self.failed_sections
        return f"{self.status} ({', '.join(failed)} failed)" if failed else self.status


@dataclass
class RunReport:
    results: list[PersonalityResult] = field(default_factory=list)
    cancelled: bool = False
    stopped_by: str = ""  # class name of the error that stopped the whole run ("" when none did)
    error: str = ""  # user-facing message of that error
    hint: str = ""
    exit_code: int = 0  # 0 all done, 1 some failed/refused, 3 auth, 4 other fatal (DESIGN.md)

    @property
    def done(self) -> int:
        return sum(1 for r in self.results if r.status == "ok")

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.status in ("failed", "refused"))

    @property
    def not_attempted(self) -> int:
        """Personalities the run never started (it stopped before them)."""
        return sum(1 for r in self.results if r.status == "not_started")

    def compute_exit_code(self, fatal_code: int | None = None) -> int:
        if fatal_code is not None:
            self.exit_code = fatal_code
        elif any(r.status != "ok" or r.failed_sections for r in self.results):
            self.exit_code = 1
        else:
            self.exit_code = 0
        return self.exit_code


#: what a run that stopped because the service or the network did says, once, instead of the request that gave
#: up (that one is the failed personality's own error)
_STOP_MESSAGES: dict[type[ServiceError], str] = {
    RateLimitedError: "shapes.inc keeps rate-limiting us, so the backup stopped.",
    NetworkError: "You seem to be offline (or shapes.inc is not answering), so the backup stopped.",
    ServerError: "shapes.inc keeps failing (server errors), so the backup stopped.",
}
_STOP_NEXT: dict[type[ServiceError], str] = {
    RateLimitedError: "Run it again later: it resumes where it stopped.",
    NetworkError: "Run it again when you are back online: it resumes where it stopped.",
    ServerError: "Run it again later: it resumes where it stopped.",
}


def run_stop_error(err: TzBackupError) -> TzBackupError:
    """The error a whole run reports when ``err`` stopped it. When the service or the network is gone
    (rate limited, unreachable or failing after every retry) that is one plain sentence for the run, of the
    same class (so ``stopped_by`` still names it); anything else is reported as it is."""
    for kind, message in _STOP_MESSAGES.items():
        if isinstance(err, kind):
            assert isinstance(err, ServiceError)
            plain = type(err)(
                f"{message} {_STOP_NEXT[kind]}", hint=err.hint, status=err.status, url_path=err.url_path,
                attempts=err.attempts,
            )
            plain.__cause__ = err
            return plain
    return err
