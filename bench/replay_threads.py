"""Replay real customer-support threads into the running bot and count the threads where a person was offered.

    python -m bench.replay_threads [--data FILE] [--limit N] [--concurrency 8] [--pause 8] [--policy YAML]
    make bench-replay ARGS="--limit 20"

Issue 17's goal: on real customer threads rated for frustration 0-4, a person is offered in at least 75% of
the threads rated 3 or more and in at most 10% of the calm ones (0-1).

Input: the TWCS dev file (format in ``../shared/data/README.md``).  Only customer turns carry a rating
(``frustration``, 0-4, the median of three annotators; ``null`` where a turn was left unrated); a thread's
rating is the highest of its customer turns, so "a thread rated 4" had at least one turn rated 4.  Threads
with no rated turn are replayed but left out of the buckets.

One stack is started as ``make run`` starts it (bench/stacks.py), on free loopback ports.  Each thread's
customer turns are sent in order, as one new anonymous REST conversation (``POST /webhooks/rest/webhook``, one
sender per thread); the support agent's turns are not sent: the bot answers instead.  ``--pause`` seconds pass
between a customer's turns (default 8: the real customers took minutes, and an instant reply would add the
``fast_reply`` signal to every turn after the first).  Afterwards the conversation's tracker
(``GET /conversations/rest:<sender>/tracker``) tells what the bot did: a person was offered when one of the
escalation actions ran (``action_offer_human``, ``action_offer_callback``, ``action_handoff``:
bot/components/escalation_policy.py, actions/escalation.py) or the bot said an offer some other action makes
(``utter_other_language_offer_human*``, actions/languages.py).

Prints a table per rating bucket (0-1, 2, 3, 4 and >= 3) and whether the goals are met; writes
bench/results/replay.json (thread ids, ratings and outcomes; never the threads' text).
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import aiohttp

from bench.stacks import ROOT, base_env, start_attune, wait_ready
from handoff.shared.conversation_ids import rest_conversation

DEFAULT_DATA: Final = ROOT.parent / "shared" / "data" / "frustration_dialogues_twcs.dev.jsonl"
CUSTOMER: Final = "user"  # the "speaker" of a customer turn; "bot" is the support agent

Bucket = Literal["0-1", "2", "3", "4"]
BUCKETS: Final[tuple[Bucket, ...]] = ("0-1", "2", "3", "4")
FRUSTRATED: Final = ">=3"  # the goal's aggregate of buckets 3 and 4
CALM: Final[Bucket] = "0-1"
GOAL_FRUSTRATED_AT_LEAST: Final = 0.75
GOAL_CALM_AT_MOST: Final = 0.10

Offer = Literal["offer_human", "offer_callback", "handoff"]
OFFER_KINDS: Final[tuple[Offer, ...]] = ("offer_human", "offer_callback", "handoff")
# The actions an escalation decision runs (bot/components/escalation_policy.py ACTIONS), by what they do.
OFFER_ACTIONS: Final[Mapping[str, Offer]] = {
    "action_offer_human": "offer_human",
    "action_offer_callback": "offer_callback",
    "action_handoff": "handoff",
}
# Offers other actions say (the language check's offer of a person, actions/languages.py), by response name.
OFFER_RESPONSE_PREFIXES: Final[Mapping[str, Offer]] = {"utter_other_language_offer_human": "offer_human"}

REQUEST_TIMEOUT_SECONDS: Final = 120.0


class DataMissing(Exception):
    """The threads file is absent or unreadable."""


@dataclass(frozen=True)
class Thread:
    id: str
    rating: int | None
    customer_turns: tuple[str, ...]


@dataclass
class ThreadResult:
    id: str
    rating: int | None
    bucket: Bucket | None
    turns_sent: int = 0
    offers: list[Offer] = field(default_factory=list)
    # 1-based customer turn after which the first offer came; None when none came.
    first_offer_turn: int | None = None
    max_frustration: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def offered(self) -> bool:
        return bool(self.offers)


# --- the pure parts ---------------------------------------------------------------------------------------


def thread_rating(turns: Iterable[Mapping[str, Any]]) -> int | None:
    """The highest frustration rating of the customer's turns; None when no turn is rated."""
    ratings = [
        turn["frustration"]
        for turn in turns
        if turn.get("speaker") == CUSTOMER and isinstance(turn.get("frustration"), int)
    ]
    return max(ratings) if ratings else None


def bucket(rating: int | None) -> Bucket | None:
    if rating is None:
        return None
    if rating <= 1:
        return CALM
    return "2" if rating == 2 else "3" if rating == 3 else "4"


def parse_thread(record: Mapping[str, Any]) -> Thread:
    turns = record.get("turns")
    if not isinstance(turns, list):
        raise ValueError("no list of turns")
    texts = tuple(
        str(turn["text"]).strip()
        for turn in turns
        if isinstance(turn, dict) and turn.get("speaker") == CUSTOMER and str(turn.get("text") or "").strip()
    )
    return Thread(str(record.get("id", "")), thread_rating(t for t in turns if isinstance(t, dict)), texts)


def load_threads(path: Path) -> list[Thread]:
    """Every thread with at least one customer turn, in file order."""
    if not path.is_file():
        raise DataMissing(
            f"{path} not found: the TWCS dev file lives in ../shared/data/ next to the repository "
            "(../shared/data/README.md); pass another with --data"
        )
    threads = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            thread = parse_thread(json.loads(line))
        except (ValueError, TypeError, KeyError) as error:
            raise DataMissing(f"{path}:{number}: not a dialogue record ({error})") from error
        if thread.customer_turns:
            threads.append(thread)
    if not threads:
        raise DataMissing(f"{path} has no threads with customer turns")
    return threads


def person_offers(events: Sequence[Mapping[str, Any]]) -> list[tuple[int, Offer]]:
    """Each offer of a person in a tracker's events, as (customer turn it answered, 1-based; what)."""
    found: list[tuple[int, Offer]] = []
    turn = 0
    for event in events:
        kind = event.get("event")
        if kind == "user":
            turn += 1
        elif kind == "action" and event.get("name") in OFFER_ACTIONS:
            found.append((turn, OFFER_ACTIONS[str(event["name"])]))
        elif kind == "bot":
            response = str((event.get("metadata") or {}).get("utter_action") or "")
            offer = next((o for p, o in OFFER_RESPONSE_PREFIXES.items() if response.startswith(p)), None)
            if offer is not None:
                found.append((turn, offer))
    return found


def highest_frustration(events: Sequence[Mapping[str, Any]]) -> float | None:
    """The highest frustration of the conversation's per-turn records (``turn_record``, issue 18)."""
    scores = [
        float(e["value"]["frustration"])
        for e in events
        if e.get("event") == "slot"
        and e.get("name") == "turn_record"
        and isinstance(e.get("value"), dict)
        and isinstance(e["value"].get("frustration"), int | float)
    ]
    return max(scores) if scores else None


def _share(results: Sequence[ThreadResult]) -> dict[str, Any]:
    offered = [r for r in results if r.offered]
    kinds = {
        kind: sum(kind in r.offers for r in results) for kind in ("offer_human", "offer_callback", "handoff")
    }
    scores = [r.max_frustration for r in results if r.max_frustration is not None]
    return {
        "threads": len(results),
        "offered": len(offered),
        "share": round(len(offered) / len(results), 3) if results else None,
        "by_kind": kinds,
        "mean_max_frustration": round(sum(scores) / len(scores), 3) if scores else None,
    }


def summarise(results: Sequence[ThreadResult]) -> dict[str, Any]:
    """Shares per rating bucket and the goals; threads whose replay failed are left out (and counted)."""
    clean = [r for r in results if not r.errors and r.bucket is not None]
    buckets: dict[str, Any] = {name: _share([r for r in clean if r.bucket == name]) for name in BUCKETS}
    buckets[FRUSTRATED] = _share([r for r in clean if r.bucket in ("3", "4")])
    frustrated, calm = buckets[FRUSTRATED]["share"], buckets[CALM]["share"]
    goals = {
        "frustrated_offered_at_least": GOAL_FRUSTRATED_AT_LEAST,
        "calm_offered_at_most": GOAL_CALM_AT_MOST,
        "frustrated_met": frustrated is not None and frustrated >= GOAL_FRUSTRATED_AT_LEAST,
        "calm_met": calm is not None and calm <= GOAL_CALM_AT_MOST,
    }
    goals["met"] = goals["frustrated_met"] and goals["calm_met"]
    return {
        "buckets": buckets,
        "goals": goals,
        "threads": len(results),
        "unrated": sum(r.bucket is None for r in results),
        "failed": sum(bool(r.errors) for r in results),
    }


def format_table(summary: Mapping[str, Any]) -> str:
    lines = [
        "| rating | threads | person offered | share | offer / call-back / handoff | mean peak frustration |",
        "|---|---|---|---|---|---|",
    ]
    for name in (*BUCKETS, FRUSTRATED):
        row = summary["buckets"][name]
        share = f"{100 * row['share']:.0f}%" if row["share"] is not None else "-"
        kinds = " / ".join(str(row["by_kind"][k]) for k in OFFER_KINDS)
        peak = row["mean_max_frustration"]
        label = ">= 3" if name == FRUSTRATED else name
        lines.append(
            f"| {label} | {row['threads']} | {row['offered']} | {share} | {kinds} | "
            f"{'-' if peak is None else f'{peak:.2f}'} |"
        )
    goals = summary["goals"]
    frustrated, calm = ("met" if goals[k] else "NOT met" for k in ("frustrated_met", "calm_met"))
    lines.append(
        f"goal: rated >= 3 offered >= {GOAL_FRUSTRATED_AT_LEAST:.0%}: {frustrated}; "
        f"calm (0-1) offered <= {GOAL_CALM_AT_MOST:.0%}: {calm}"
    )
    lines.append(
        f"{summary['threads']} threads replayed, {summary['unrated']} unrated, {summary['failed']} failed "
        "(left out of the shares)"
    )
    return "\n".join(lines)


# --- the replay -------------------------------------------------------------------------------------------


async def _say(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> str | None:
    """Sends one customer turn; the problem, or None when the bot answered."""
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as response:
            if response.status != 200:
                return f"HTTP {response.status}: {(await response.text())[:200]}"
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None if body else "empty reply (handling the message failed)"


async def replay(
    session: aiohttp.ClientSession, rasa_url: str, token: str, thread: Thread, sender: str, pause: float
) -> ThreadResult:
    result = ThreadResult(thread.id, thread.rating, bucket(thread.rating))
    for index, text in enumerate(thread.customer_turns):
        if index and pause:
            await asyncio.sleep(pause)
        problem = await _say(session, f"{rasa_url}/webhooks/rest/webhook", sender, text)
        result.turns_sent += 1
        if problem:
            result.errors.append(f"turn {index + 1}: {problem}")
    tracker_url = f"{rasa_url}/conversations/{quote(rest_conversation(sender), safe='')}/tracker"
    try:
        async with session.get(tracker_url, params={"token": token}) as response:
            if response.status != 200:
                result.errors.append(f"tracker: HTTP {response.status}")
                return result
            events = (await response.json(content_type=None)).get("events") or []
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, AttributeError) as error:
        result.errors.append(f"tracker: {type(error).__name__}: {error}")
        return result
    offers = person_offers(events)
    result.offers = list(dict.fromkeys(kind for _, kind in offers))
    result.first_offer_turn = offers[0][0] if offers else None
    result.max_frustration = highest_frustration(events)
    return result


async def replay_all(
    rasa_url: str, token: str, threads: Sequence[Thread], concurrency: int, pause: float
) -> list[ThreadResult]:
    run = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(concurrency)
    done = [0]
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)

    async def one(session: aiohttp.ClientSession, index: int, thread: Thread) -> ThreadResult:
        async with gate:
            result = await replay(session, rasa_url, token, thread, f"replay-{run}-{index:04d}", pause)
        done[0] += 1
        if done[0] % 10 == 0 or done[0] == len(threads):
            print(f"  {done[0]}/{len(threads)} threads replayed", flush=True)
        return result

    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        return list(await asyncio.gather(*(one(session, i, t) for i, t in enumerate(threads))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.replay_threads", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="TWCS threads (JSONL)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N threads")
    parser.add_argument("--concurrency", type=int, default=8, help="threads replayed at once")
    parser.add_argument("--pause", type=float, default=8.0, help="seconds between a customer's turns")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "attune.tar.gz")
    parser.add_argument("--start-timeout", type=float, default=420.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "replay.json")
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="an empathy policy YAML to try instead of policy/empathy.yml (ATTUNE_EMPATHY_POLICY)",
    )
    args = parser.parse_args(argv)
    if args.policy is not None and not args.policy.is_file():
        parser.error(f"--policy: no such file {args.policy}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.pause < 0:
        parser.error("--pause must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        threads = load_threads(args.data)[: args.limit]
    except DataMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.model.is_file():
        print(f"error: no model at {args.model} (make train, or --model)", file=sys.stderr)
        return 2
    print(f"{len(threads)} threads, {sum(len(t.customer_turns) for t in threads)} customer turns", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        extra_env = {"ATTUNE_EMPATHY_POLICY": str(args.policy.resolve())} if args.policy else None
        system, ready = start_attune(args.model.resolve(), Path(tmp), extra_env)
        try:
            print("starting Attune on 127.0.0.1...", flush=True)
            wait_ready(system, args.start_timeout, ready)
            started = time.monotonic()
            token = base_env(Path(tmp))["ATTUNE_RASA_TOKEN"]
            results = asyncio.run(replay_all(system.url, token, threads, args.concurrency, args.pause))
            elapsed = time.monotonic() - started
            system.check_alive()
        except RuntimeError as error:  # the stack did not start or died
            print(f"error: {error}", file=sys.stderr)
            return 1
        finally:
            system.stop()
    summary = summarise(results)
    print(format_table(summary))
    for result in [r for r in results if r.errors][:5]:
        print(f"  {result.id}: {result.errors[0]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report = {
        "settings": settings,
        "replay_s": round(elapsed, 1),
        **summary,
        "results": [{**asdict(r), "offered": r.offered} for r in results],
    }
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
