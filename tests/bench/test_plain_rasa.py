"""The plain Rasa assistant's domain (bench/plain_rasa.py): Attune's, without Attune's own actions."""

from bench.plain_rasa import plain_domain


def test_selective_domain_entries_are_dropped_or_kept_by_their_name() -> None:
    # Rasa 3.6 writes an action that needs the domain as {name: {send_domain: true}} (endpoints.yml's
    # enable_selective_domain); reading it as a name raised "unhashable type: 'dict'".
    domain = {
        "actions": [
            "action_lookup",
            {"action_track_empathy": {"send_domain": True}},
            {"action_answer_other_language": {"send_domain": True}},
            "action_handoff",
        ],
        "slots": {},
    }
    assert plain_domain(domain)["actions"] == [
        "action_lookup",
        {"action_answer_other_language": {"send_domain": True}},
    ]
