"""The incident verbs of the `logwarden` command: list, show, acknowledge, resolve,
silence and give feedback. The HTTP API calls the same store functions."""

from __future__ import annotations

import getpass
import json
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from workers.clierrors import USAGE, CliError

# The settings and the storage layer are imported when a command runs, not when
# `logwarden` starts (see workers/cli.py).
if TYPE_CHECKING:
    from pipeline.storage import Store, StoredAlert
    from pipeline.storage.silences import Silence
    from workers.settings import Settings

STATES = {"open": ("firing", "acknowledged"), "firing": ("firing",),
          "acknowledged": ("acknowledged",), "resolved": ("resolved",), "all": None}
TOLD = "its receivers are told by the notify workers"


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _duration(text: str, option: str) -> timedelta:
    from workers.route_settings import parse_duration

    try:
        return timedelta(seconds=float(parse_duration(text)))  # type: ignore[arg-type]
    except ValueError as exc:
        raise CliError(f"{option}: {exc}", USAGE) from None


def _ns_time(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ns / 1e9))


def incident_json(incident: StoredAlert) -> dict[str, Any]:
    data = {name: getattr(incident, name) for name in incident.__dataclass_fields__}
    for name in ("opened_at", "active_at", "acknowledged_at", "resolved_at"):
        data[name] = None if data[name] is None else data[name].isoformat()
    data |= {"first_seen": _ns_time(incident.first_seen_ns),
             "last_seen": _ns_time(incident.last_seen_ns)}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _wake_senders(store: Store) -> None:
    """A fleet's senders send a queued acknowledgement or resolved notice now, not at
    beat's next outbox sweep (an embedded database has no senders to wake)."""
    if store.engine.dialect.name == "postgresql":
        from workers.fleet import senders_waker

        senders_waker()()


def _open_store(settings: Settings) -> Store:
    from workers.listing import open_existing_store

    return open_existing_store(settings)


def _found(store: Store, incident_id: str) -> StoredAlert:
    incident = store.incidents.get(incident_id)
    if incident is None:
        raise CliError(f"no incident {incident_id!r} (see `logwarden incidents --state all`)",
                       USAGE)
    return incident


@click.command("incidents")
@click.option("--state", type=click.Choice(list(STATES)), default="open", show_default=True)
@click.option("--service", help="Only this service.")
@click.option("--severity", type=click.Choice(["info", "warning", "critical"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def incidents(settings: Settings, state: str, service: str | None, severity: str | None,
              limit: int, as_json: bool) -> None:
    """List incidents, most recently active first."""
    store = _open_store(settings)
    found = store.incidents.find(states=STATES[state], service=service, severity=severity,
                                 limit=limit)
    if as_json:
        click.echo(json.dumps([incident_json(i) for i in found], indent=2))
        return
    for i in found:
        click.echo(f"{i.id}  {i.status:<12} {i.severity:<8} {i.service:<16} "
                   f"{i.anomaly_count:>4}x  {_ns_time(i.first_seen_ns)} .. "
                   f"{_ns_time(i.last_seen_ns)}  {', '.join(i.anomaly_types)}")


@click.command("incident")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the history).")
@click.pass_obj
def incident(settings: Settings, incident_id: str, as_json: bool) -> None:
    """Show one incident and every notification it sent (or did not, and why)."""
    store = _open_store(settings)
    found = _found(store, incident_id)
    history = store.incidents.history(incident_id)
    if as_json:
        rows = [{"receiver": h.channel, "kind": h.kind, "revision": h.revision,
                 "attempt": h.attempt, "status": str(h.status), "error": h.error,
                 "at": h.created_at.isoformat()} for h in history]
        click.echo(json.dumps({**incident_json(found), "history": rows}, indent=2))
        return
    click.echo(f"{found.title}  [{found.severity}, {found.status}]")
    click.echo(f"  stream {found.stream}; {found.anomaly_count} anomalies: "
               f"{', '.join(found.anomaly_types)}")
    click.echo(f"  {_ns_time(found.first_seen_ns)} .. {_ns_time(found.last_seen_ns)}")
    for sample in found.samples:
        click.echo(f"  | {sample}")
    for h in history:
        click.echo(f"  {h.created_at:%Y-%m-%d %H:%M:%S}  r{h.revision} {h.kind:<12} "
                   f"{h.channel:<12} {h.status}" + (f"  ({h.error})" if h.error else ""))


@click.command("ack")
@click.argument("incident_id")
@click.option("--by", default=_who, help="Who takes it (default: your user name).")
@click.pass_obj
def ack(settings: Settings, incident_id: str, by: str) -> None:
    """Acknowledge an incident: no more updates or repeats until it resolves."""
    store = _open_store(settings)
    _found(store, incident_id)
    done = store.incidents.acknowledge(incident_id, by)
    assert done is not None
    if done.acknowledged_by != by or done.status != "acknowledged":
        raise CliError(f"incident {incident_id} is {done.status}, not firing", USAGE)
    _wake_senders(store)
    click.echo(f"acknowledged {incident_id} by {by}; {TOLD}")


@click.command("resolve")
@click.argument("incident_id")
@click.option("--by", default=_who, help="Who resolves it (default: your user name).")
@click.pass_obj
def resolve(settings: Settings, incident_id: str, by: str) -> None:
    """Resolve an incident now; its resolved notice goes wherever it was paged."""
    store = _open_store(settings)
    before = _found(store, incident_id)
    if before.status == "resolved":
        raise CliError(f"incident {incident_id} is resolved already", USAGE)
    store.incidents.resolve(incident_id, by)
    _wake_senders(store)
    click.echo(f"resolved {incident_id} by {by}; {TOLD}")


@click.group("silence")
def silence() -> None:
    """Silences: mute matching incidents for a while (add, list, expire)."""


@silence.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", default="2h", show_default=True,
              help="How long: 30m, 2h, 1d.")
@click.option("--comment", required=True, help="Why (shown wherever it mutes).")
@click.option("--author", default=_who, help="Who (default: your user name).")
@click.option("--project", help="The tenant it belongs to (default: every project).")
@click.pass_obj
def silence_add(settings: Settings, matchers: tuple[str, ...], duration: str, comment: str,
                author: str, project: str | None) -> None:
    """Silence incidents matching every MATCHER: name=value or name=~regex, on service,
    stream, project, resource_type, severity or anomaly_type."""
    from pipeline.incidents import Matcher

    try:
        parsed = [Matcher.parse(m) for m in matchers]
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    store = _open_store(settings)
    made = store.incidents.add_silence(parsed, duration=_duration(duration, "--for"),
                                       author=author, comment=comment, project=project)
    click.echo(f"silence {made.id} until {made.ends_at:%Y-%m-%d %H:%M:%SZ}: {_matchers(made)}")


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the expired ones.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def silence_list(settings: Settings, show_all: bool, as_json: bool) -> None:
    """List silences in force (with --all, the expired ones too)."""
    found = _open_store(settings).incidents.silences(active_only=not show_all)
    if as_json:
        click.echo(json.dumps([silence_json(s) for s in found], indent=2))
        return
    for s in found:
        click.echo(f"{s.id}  {s.starts_at:%Y-%m-%d %H:%M}Z .. {s.ends_at:%Y-%m-%d %H:%M}Z  "
                   f"{_matchers(s)}  by {s.author}: {s.comment}")


@silence.command("expire")
@click.argument("silence_id")
@click.pass_obj
def silence_expire(settings: Settings, silence_id: str) -> None:
    """End a silence now."""
    if not _open_store(settings).incidents.expire_silence(silence_id):
        raise CliError(f"no silence {silence_id!r} in force", USAGE)
    click.echo(f"expired silence {silence_id}")


def silence_json(s: Silence) -> dict[str, Any]:
    return {"id": s.id, "matchers": [str(m) for m in s.matchers], "project": s.project,
            "starts_at": s.starts_at.isoformat(), "ends_at": s.ends_at.isoformat(),
            "author": s.author, "comment": s.comment}


def _matchers(s: Silence) -> str:
    return " ".join(str(m) for m in s.matchers)


@click.command("feedback")
@click.argument("incident_id")
@click.argument("label", type=click.Choice(["expected", "false-positive"]))
@click.option("--comment", default="", help="Why.")
@click.option("--for", "duration", help="Suppress for this long (default: until the "
              "incident's message template changes).")
@click.option("--no-suppress", is_flag=True, help="Only record the label.")
@click.option("--author", default=_who, help="Who (default: your user name).")
@click.pass_obj
def feedback(settings: Settings, incident_id: str, label: str, comment: str,
             duration: str | None, no_suppress: bool, author: str) -> None:
    """Say an incident was expected or a false positive: its template on its stream
    opens no incident again (for --for, or until the template changes)."""
    from pipeline.storage.feedback import FeedbackLabel

    store = _open_store(settings)
    _found(store, incident_id)
    given = store.incidents.add_feedback(
        incident_id, FeedbackLabel(label.replace("-", "_")), author=author, comment=comment,
        suppress=not no_suppress,
        duration=None if duration is None else _duration(duration, "--for"))
    assert given is not None
    scope = "label only" if no_suppress else (
        f"suppressed for {duration}" if duration else "suppressed until its template changes")
    click.echo(f"feedback {given.id}: {label} on {given.stream} "
               f"(template {given.template_id or given.anomaly_type}); {scope}")


COMMANDS = (incidents, incident, ack, resolve, silence, feedback)
