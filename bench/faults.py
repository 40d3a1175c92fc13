"""Kill -9 each of Attune's three processes during a burst of customers asking for a person.

    python -m bench.faults [--conversations 50] [--kill handoff actions rasa]   (make bench-faults)

One stack is started exactly as ``make run`` starts it.  For each process in turn, ``--conversations``
customers write "I want to talk to a human" at the same time over REST, and the process is killed
with SIGKILL while their messages are in flight.  Each customer behaves as a person with a patient
client would: a connection error (Rasa itself gone) or an honest "something went wrong, try again"
means sending the same message again; any other reply ends the conversation.  Then:

- **sent**: customers; **acknowledged**: told their conversation was passed on (or saved for the team);
- **delivered**: acknowledged handoffs found in the handoff service's database;
- **lost**: acknowledged but not in the database within the deadline; **duplicated**: there twice or more;
- **untrue**: replies that are false or empty ("[]", "live agents aren't connected");
- **recovery**: seconds from the kill until the restarted process answers its health URL again.

The same ``run_burst`` backs the fault tests (tests/faults/).  Writes bench/results/faults.json.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import yaml

from handoff.shared.conversation_ids import rest_conversation

ROOT = Path(__file__).resolve().parent.parent
MESSAGE = "I want to talk to a human"
PROCESSES = ("handoff", "actions", "rasa")
# What the bot says when a person has the conversation, or will have it: the handoff must exist.
ACK_SENT = frozenset({"utter_handoff_sent", "utter_handoff_no_agents", "utter_handoff_already"})
# "Saved, it won't be lost": the outbox has it and must deliver it once the service is back.
ACK_SAVED = frozenset({"utter_handoff_delayed"})
# Honest failures: the customer is told to try again, and does.
# (utter_message_not_processed is what the Rasa server's channels say themselves when a message could
# not be handled: bot/components/turn_guard.py.)
TRY_AGAIN = frozenset({"utter_something_went_wrong", "utter_message_not_processed"})
# False in a stack with a handoff service.
UNTRUE = frozenset({"utter_human_not_connected"})
REQUEST_TIMEOUT_SECONDS = 180.0
RETRY_PAUSE_SECONDS = 1.0


class ReplyBook:
    """Tells which domain response a bot message is (templates like {position} match anything)."""

    def __init__(self, domain: Path = ROOT / "domain.yml") -> None:
        responses = yaml.safe_load(domain.read_text()).get("responses", {})
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for name, variants in responses.items():
            for variant in variants:
                text = variant.get("text")
                if text:
                    pattern = re.escape(text)
                    pattern = re.sub(r"\\\{\w+\\\}", ".+?", pattern)
                    self._patterns.append((name, re.compile(f"^{pattern}$", re.DOTALL)))

    def names(self, texts: Iterable[str]) -> list[str]:
        found = []
        for text in texts:
            name = next((n for n, p in self._patterns if p.match(text)), None)
            found.append(name or f"text:{text[:80]}")
        return found


@dataclass
class Customer:
    sender: str
    outcome: str = "no_reply"  # acknowledged_sent, acknowledged_saved, untrue, other, no_reply
    replies: list[list[str]] = field(default_factory=list)
    connection_errors: int = 0
    server_errors: int = 0
    tries: int = 0


async def _customer(
    session: aiohttp.ClientSession, rasa_url: str, sender: str, book: ReplyBook, deadline: float
) -> Customer:
    customer = Customer(sender)
    while time.monotonic() < deadline:
        customer.tries += 1
        try:
            async with session.post(
                f"{rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": MESSAGE},
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
            ) as response:
                if response.status >= 500:
                    customer.server_errors += 1
                    await asyncio.sleep(RETRY_PAUSE_SECONDS)
                    continue
                body = await response.json(content_type=None)
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError):
            customer.connection_errors += 1  # Rasa is gone (killed): send it again once it is back
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            continue
        names = book.names(str(m.get("text", "")) for m in body if isinstance(m, dict))
        customer.replies.append(names)
        if ACK_SENT & set(names):
            customer.outcome = "acknowledged_sent"
        elif ACK_SAVED & set(names):
            customer.outcome = "acknowledged_saved"
        elif not names or UNTRUE & set(names):
            customer.outcome = "untrue"
        elif TRY_AGAIN & set(names):
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            continue
        else:
            customer.outcome = "other"
        return customer
    return customer


def handoffs_by_conversation(handoff_db: Path, prefix: str) -> Counter[str]:
    with contextlib.closing(sqlite3.connect(f"file:{handoff_db}?mode=ro", uri=True, timeout=30)) as db:
        rows = db.execute(
            "SELECT conversation_id, count(*) FROM handoffs WHERE conversation_id LIKE ? "
            "GROUP BY conversation_id",
            (f"{prefix}%",),
        ).fetchall()
    return Counter({conversation: count for conversation, count in rows})


@dataclass
class BurstReport:
    killed: str
    sent: int
    # Customers still waiting for their reply when the process was killed.
    in_flight_at_kill: int
    acknowledged: int
    acknowledged_saved: int
    delivered: int
    lost: int
    duplicated: int
    untrue: int
    other: int
    no_reply: int
    connection_errors: int
    server_errors: int
    recovery_seconds: float | None
    delivery_seconds: float
    problems: list[str]


async def run_burst(
    rasa_url: str,
    handoff_db: Path,
    kill: Callable[[], None],
    killed: str,
    conversations: int = 50,
    kill_after_handoffs: int = 5,
    deadline_seconds: float = 420.0,
    health_url: str | None = None,
) -> BurstReport:
    """``conversations`` customers ask for a person at once; ``kill()`` runs mid-burst, as soon as
    ``kill_after_handoffs`` of their handoffs have reached the service (or 30 s in).

    With ``health_url`` (the killed process's), the time until it answers again is measured.
    """
    book, prefix = ReplyBook(), f"fault-{killed}-{uuid.uuid4().hex[:8]}-"
    # The REST channel files each sender's conversation under ``rest:`` (handoff/shared/conversation_ids.py).
    conversations_prefix = rest_conversation(prefix)
    deadline = time.monotonic() + deadline_seconds
    connector = aiohttp.TCPConnector(limit=conversations + 5)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [
            asyncio.create_task(_customer(session, rasa_url, f"{prefix}{i:03d}", book, deadline))
            for i in range(conversations)
        ]
        burst_started = time.monotonic()
        while time.monotonic() - burst_started < 30:
            if (
                sum(handoffs_by_conversation(handoff_db, conversations_prefix).values())
                >= kill_after_handoffs
            ):
                break
            await asyncio.sleep(0.05)
        in_flight = sum(not task.done() for task in tasks)
        kill()
        killed_at = time.monotonic()
        recovery = (
            asyncio.create_task(time_to_answer(health_url, killed_at, deadline_seconds))
            if health_url
            else None
        )
        customers = await asyncio.gather(*tasks)
        recovery_seconds = await recovery if recovery is not None else None
    acknowledged = {rest_conversation(c.sender) for c in customers if c.outcome.startswith("acknowledged")}
    # A saved handoff reaches the service from the outbox once the service answers again.
    started = time.monotonic()
    found = handoffs_by_conversation(handoff_db, conversations_prefix)
    while not acknowledged <= set(found) and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        found = handoffs_by_conversation(handoff_db, conversations_prefix)
    delivery_seconds = time.monotonic() - started
    outcomes = Counter(c.outcome for c in customers)
    problems = [
        f"{c.sender}: {c.outcome} after {c.tries} tries, replies {c.replies}"
        for c in customers
        if not c.outcome.startswith("acknowledged")
    ]
    problems += [f"{s}: acknowledged but not delivered" for s in sorted(acknowledged - set(found))]
    problems += [f"{s}: {n} handoffs" for s, n in sorted(found.items()) if n > 1]
    return BurstReport(
        killed=killed,
        sent=conversations,
        in_flight_at_kill=in_flight,
        acknowledged=len(acknowledged),
        acknowledged_saved=outcomes["acknowledged_saved"],
        delivered=len(acknowledged & set(found)),
        lost=len(acknowledged - set(found)),
        duplicated=sum(1 for n in found.values() if n > 1),
        untrue=outcomes["untrue"],
        other=outcomes["other"],
        no_reply=outcomes["no_reply"],
        connection_errors=sum(c.connection_errors for c in customers),
        server_errors=sum(c.server_errors for c in customers),
        recovery_seconds=recovery_seconds,
        delivery_seconds=round(delivery_seconds, 1),
        problems=problems,
    )


def kill_child(pid_file: Path) -> int:
    """SIGKILL to the launcher's child whose pid is in ``pid_file``; returns the pid."""
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGKILL)
    return pid


async def _answers(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status < 500
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


async def time_to_answer(url: str, killed_at: float, timeout: float) -> float | None:
    """Seconds from ``killed_at`` until ``url`` answers again (None: not within ``timeout``)."""
    async with aiohttp.ClientSession() as session:
        # The killed process may take a moment to stop answering: first see it gone.
        while time.monotonic() - killed_at < 5 and await _answers(session, url):
            await asyncio.sleep(0.05)
        while time.monotonic() - killed_at < timeout:
            if await _answers(session, url):
                return round(time.monotonic() - killed_at, 2)
            await asyncio.sleep(0.1)
    return None


def format_table(reports: list[BurstReport]) -> str:
    header = "killed   sent  in-flight  ack  saved  delivered  lost  dup  untrue  other  recovery  delivery"
    rows = [
        f"{r.killed:<8} {r.sent:>4} {r.in_flight_at_kill:>10} {r.acknowledged:>4} "
        f"{r.acknowledged_saved:>6} {r.delivered:>10} "
        f"{r.lost:>5} {r.duplicated:>4} {r.untrue:>7} {r.other:>6} "
        f"{(f'{r.recovery_seconds:.1f} s' if r.recovery_seconds is not None else '?'):>9} "
        f"{r.delivery_seconds:>7.1f} s"
        for r in reports
    ]
    return "\n".join([header, *rows])


HEALTH = re.compile(r"^\s*(actions|handoff)\s+(http://\S+/healthz?)\s*$")


def health_urls(banner: Iterable[str], rasa_url: str) -> dict[str, str]:
    """Each process's health URL, from the launcher's banner (Rasa's is its root)."""
    found = {"rasa": f"{rasa_url}/"}
    for line in banner:
        match = HEALTH.match(line.split("] ", 1)[-1])
        if match:
            found[match.group(1)] = match.group(2)
    return found


def main(argv: list[str] | None = None) -> int:
    from bench.stacks import start_attune, wait_ready

    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "attune.tar.gz")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--kill", nargs="+", choices=PROCESSES, default=list(PROCESSES))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.json")
    args = parser.parse_args(argv)
    reports = []
    with tempfile.TemporaryDirectory(prefix="attune-faults-") as tmp:
        var_dir = Path(tmp)
        system, ready = start_attune(args.model, var_dir)
        try:
            wait_ready(system, 600, ready)
            urls = health_urls(list(system.output), system.url)
            for name in args.kill:
                pid_file = var_dir / "run" / f"{name}.pid"
                report = asyncio.run(
                    run_burst(
                        system.url,
                        var_dir / "handoff.db",
                        lambda pid_file=pid_file: print(f"killed pid {kill_child(pid_file)}", flush=True),  # type: ignore[misc]
                        name,
                        args.conversations,
                        health_url=urls[name],
                    )
                )
                reports.append(report)
                print(format_table([report]), flush=True)
                for problem in report.problems[:10]:
                    print(f"  {problem}")
        finally:
            system.stop()
    print()
    print(format_table(reports))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([asdict(r) for r in reports], indent=2))
    print(f"\nreport: {args.out}")
    return 0 if all(not r.problems for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
