"""``attune shadow report`` over records the action server wrote (actions/shadow_log.py), and what
``attune privacy`` export, erase and purge do to them (handoff/privacy/shadow_data.py).
"""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from actions.shadow_log import ShadowLog
from bot.cli import main
from bot.empathy.escalation import HANDOFF, NONE, OFFER_CALLBACK, OFFER_HUMAN
from bot.empathy.shadow import ShadowRecord
from handoff.analytics.shadow_report import read_records
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.privacy import customers, personal_data

NOW = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
PHONE = "+447700900123"


def record(
    conversation: str, turn: int, live: str, decided: str, age_days: float = 0.0, **more: object
) -> ShadowRecord:
    fields: dict[str, object] = {
        "conversation_id": conversation,
        "turn": turn,
        "candidate": "v2",
        "live_frustration": 0.1 * (turn % 10),
        "candidate_frustration": 0.1 * (turn % 10) + 0.05,
        "live_distress": 0.0,
        "candidate_distress": 0.02 * (turn % 5),
        "live_decision": live,
        "candidate_decision": decided,
        "live_tone": "neutral",
        "candidate_tone": "neutral",
        "signals": {"shouting": 0.5, "negative_emotion": 0.9},
        "continued": turn > 1,
        "recorded_at": (NOW - timedelta(days=age_days)).timestamp(),
    }
    return ShadowRecord(**(fields | more))  # type: ignore[arg-type]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """40 turns: 30 agree, 6 a person only the candidate offers, 4 a call-back only live offers;
    2 more of an older day and of another candidate.
    """
    url = f"sqlite:///{tmp_path / 'store.db'}"
    log = ShadowLog.open(url)
    log.write(
        [record(f"web:c{i % 4}", i, NONE, NONE) for i in range(1, 31)]
        + [record("web:c9", i, NONE, OFFER_HUMAN) for i in range(31, 37)]
        + [record("sms:+447700900999", i, OFFER_CALLBACK, NONE) for i in range(37, 41)]
        + [record("web:old", 1, HANDOFF, NONE, age_days=10)]
        + [record("web:other", 1, NONE, OFFER_HUMAN, candidate="v3")]
    )
    return url


def test_the_report_gives_agreement_confusion_correlation_and_changed_offers_with_examples(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    since = (NOW - timedelta(days=1)).date().isoformat()
    args = ["shadow", "report", "--database-url", store_url, "--since", since, "--candidate", "v2"]
    assert main([*args, "--json", "--examples", "2"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["records"], found["decision_agreement"], found["decisions_differ"]) == (40, 0.75, 10)
    assert found["confusion"][NONE][OFFER_HUMAN] == 6 and found["confusion"][OFFER_CALLBACK][NONE] == 4
    assert found["candidates"] == ["v2"]
    human = found["offers_changed"][OFFER_HUMAN]
    assert (human["added"], human["removed"], [e["turn"] for e in human["examples"]["added"]]) == (
        6,
        0,
        [31, 32],
    )
    callback = found["offers_changed"][OFFER_CALLBACK]["examples"]["removed"][0]
    assert callback["conversation_id"] == "sms:+447700900999" and callback["signals"]["shouting"] == 0.5
    assert found["frustration"]["pearson"] == pytest.approx(1.0)
    # Everything, in words: the older day and the other candidate count too.
    assert main(["shadow", "report", "--database-url", store_url]) == 0
    text = capsys.readouterr().out
    assert "42 turns" in text and "offer_human: live 0, candidate 7 (+7 only the candidate" in text


def test_the_html_page_escapes_what_it_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    ShadowLog.open(url).write([record("web:<script>alert(1)</script>", 1, NONE, OFFER_HUMAN)])
    page = tmp_path / "out" / "shadow.html"
    assert main(["shadow", "report", "--database-url", url, "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Decisions (rows live, columns candidate)" in html


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--since", "yesterday"], "YYYY-MM-DD"),
        (["--examples", "1000"], "0 to 100"),
        (["--examples", "-1"], "0 to 100"),
        (["--candidate", "'; DROP TABLE attune_shadow; --"], "candidate name"),
    ],
)
def test_hostile_arguments_are_refused_with_a_reason(
    store_url: str, extra: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["shadow", "report", "--database-url", store_url, *extra])
    assert exit_.value.code == 2 and says in capsys.readouterr().err
    assert len(read_records(create_engine_for(store_url))) == 42


def test_a_missing_database_or_an_empty_one_is_said_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shadow", "report", "--database-url", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "no database" in capsys.readouterr().err
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    ShadowLog.open(empty)
    assert main(["shadow", "report", "--database-url", empty]) == 0
    assert "no records" in capsys.readouterr().out


@pytest.fixture
def stores(tmp_path: Path) -> personal_data.Stores:
    handoff_url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(handoff_url)
    store = ShadowLog.open(f"sqlite:///{tmp_path / 'store.db'}")
    store.write(
        [
            record(f"sms:{PHONE}", 1, NONE, OFFER_HUMAN),
            record(f"whatsapp:{PHONE}", 1, NONE, NONE, age_days=40),
            record("rest:someone-else", 1, NONE, NONE),
            record("rest:someone-old", 1, NONE, NONE, age_days=31),
        ]
    )
    handoff = create_engine_for(handoff_url)
    customers.resolve(handoff, [customers.normalise("phone", PHONE)], customers.Linking(may_merge=True))
    return personal_data.Stores(handoff, contacts=store.engine)


def conversations_left(stores: personal_data.Stores) -> list[str]:
    assert stores.contacts is not None
    return sorted(r.conversation_id for r in read_records(stores.contacts))


def test_export_and_erasure_cover_the_customers_shadow_records_only(stores: personal_data.Stores) -> None:
    exported = personal_data.export(stores, f"phone:{PHONE}", now=NOW)
    assert sorted(r["conversation_id"] for r in exported["shadow_records"]) == [
        f"sms:{PHONE}",
        f"whatsapp:{PHONE}",
    ]
    assert exported["shadow_records"][0]["candidate_decision"] in (NONE, OFFER_HUMAN)
    counts = personal_data.erase(stores, f"phone:{PHONE}", now=NOW)
    assert counts["shadow_records"] == 2
    assert conversations_left(stores) == ["rest:someone-else", "rest:someone-old"]


def test_retention_deletes_shadow_records_after_the_emotion_period(stores: personal_data.Stores) -> None:
    retention = personal_data.Retention(emotion_days=30, transcript_days=180, audit_days=730)
    counts = personal_data.purge(stores, retention, now=NOW)
    assert counts["shadow_records_deleted"] == 2
    assert conversations_left(stores) == ["rest:someone-else", f"sms:{PHONE}"]
    assert personal_data.purge(stores, retention, now=NOW)["shadow_records_deleted"] == 0


def test_a_database_url_that_is_no_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shadow", "report", "--database-url", "not a url"]) == 2
    assert "not a database URL" in capsys.readouterr().err
