"""A plain Rasa 3.6 assistant doing Attune's dialogue, built at bench time for ``bench.e2e``.

Same domain, NLU examples, stories and rules as the repo, with Rasa's default pipeline
(``bench/configs/rasa_default.yml``) and Rasa's default policies, and without what makes Attune
Attune: the custom NLU components, ``EscalationPolicy``, the emotion data files, the
``action_track_empathy`` slot mapping and the empathy/handoff/call-back actions.  Actions with a
plain equivalent become their response (``action_offer_human`` -> ``utter_offer_human``); flows
that need the call-back form are dropped.  The store lookups stay custom actions, served by
``rasa_sdk --actions actions.self_service`` (only those actions), so both systems do the same
store work.

The trained model is cached in ``.cache/bench-e2e/`` under a hash of everything that goes into it.
"""

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench-e2e"
DEFAULT_CONFIG = ROOT / "bench" / "configs" / "rasa_default.yml"
# Served by the plain action server (actions/self_service.py): store lookups any Rasa bot would have.
STORE_ACTIONS = (
    "action_lookup",
    "action_confirm_cancellation",
    "action_keep_subscription",
    "action_stop_verification",
    "validate_account_form",
)
STORE_ACTIONS_MODULE = "actions.self_service"
# Attune actions with a plain Rasa equivalent: the response they mostly send.
AS_RESPONSE = {
    "action_opt_out_emotion": "utter_opted_out",
    "action_opt_in_emotion": "utter_opted_in",
    "action_explain_privacy": "utter_privacy_opted_in",
    "action_offer_human": "utter_offer_human",
    "action_offer_callback": "utter_offer_callback",
    "action_handoff": "utter_handoff_sent",
}
# Not in the plain assistant at all; stories and rules that use them are dropped.
CALLBACK_FORM = "callback_form"
DROPPED_ACTIONS = {
    "action_track_empathy",
    "validate_callback_form",
    "action_ask_callback_phone",
    "action_ask_callback_time",
    "action_ask_callback_consent",
    "action_request_callback",
    CALLBACK_FORM,
}
CALLBACK_SLOTS = ("callback_phone", "callback_time", "callback_consent")
# With the form gone, asking for a call-back gets what asking for a person gets.
EXTRA_RULES = [
    {
        "rule": "asks to be called back",
        "steps": [{"intent": "request_callback"}, {"action": "utter_handoff_sent"}],
    }
]


def action_name(entry: str | dict[str, Any]) -> str:
    """A domain ``actions`` entry is a name, or ``{name: {send_domain: ...}}`` (Rasa 3.6 selective domain)."""
    return entry if isinstance(entry, str) else next(iter(entry))


def plain_domain(domain: dict[str, Any]) -> dict[str, Any]:
    plain = copy.deepcopy(domain)
    dropped = DROPPED_ACTIONS | set(AS_RESPONSE)
    plain["actions"] = [a for a in plain["actions"] if action_name(a) not in dropped]
    plain.get("forms", {}).pop(CALLBACK_FORM, None)
    for name in CALLBACK_SLOTS:
        plain["slots"].pop(name, None)
    for slot in plain["slots"].values():
        for mapping in slot.get("mappings", []):
            if mapping.get("action") in DROPPED_ACTIONS:
                del mapping["action"]
    return plain


def _plain_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The steps with actions mapped to responses, or None when they need something dropped."""
    plain = []
    for step in steps:
        action = step.get("action")
        if action in DROPPED_ACTIONS or step.get("active_loop") == CALLBACK_FORM:
            return None
        if any(name in CALLBACK_SLOTS for event in step.get("slot_was_set", []) for name in event):
            return None
        plain.append({"action": AS_RESPONSE[action]} if action in AS_RESPONSE else step)
    return plain


def plain_flows(flows: dict[str, Any], key: str) -> dict[str, Any]:
    kept = []
    for flow in flows.get(key, []):
        steps = _plain_steps(flow["steps"])
        conditions = _plain_steps(flow.get("condition", []))
        if steps is None or conditions is None:
            continue
        kept.append({**flow, "steps": steps, **({"condition": conditions} if "condition" in flow else {})})
    if key == "rules":
        kept += EXTRA_RULES
    return {**flows, key: kept}


def plain_config() -> dict[str, Any]:
    """``rasa_default.yml`` (what ``rasa init`` writes); Rasa's own default policies when it has none."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    if not config.get("policies"):
        import rasa.engine.recipes

        defaults = Path(rasa.engine.recipes.__file__).parent / "config_files" / "default_config.yml"
        config["policies"] = yaml.safe_load(defaults.read_text())["policies"]
    return config


def project_files() -> dict[str, str]:
    """The plain project as ``{relative path: YAML text}``."""
    dump = lambda data: yaml.safe_dump(data, sort_keys=False, allow_unicode=True)  # noqa: E731
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    stories = yaml.safe_load((ROOT / "data" / "stories" / "stories.yml").read_text())
    rules = yaml.safe_load((ROOT / "data" / "rules" / "rules.yml").read_text())
    return {
        "config.yml": dump(plain_config()),
        "domain.yml": dump(plain_domain(domain)),
        "data/nlu.yml": (ROOT / "data" / "nlu" / "nlu.yml").read_text(),
        "data/stories.yml": dump(plain_flows(stories, "stories")),
        "data/rules.yml": dump(plain_flows(rules, "rules")),
    }


def fingerprint(files: dict[str, str]) -> str:
    import rasa

    digest = hashlib.sha256(json.dumps([rasa.__version__, sorted(files.items())]).encode())
    return digest.hexdigest()[:16]


def write_project(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def trained_model(log: Any = print) -> tuple[Path, Path]:
    """(model archive, project directory); trains (niced) only when no cached model matches."""
    files = project_files()
    key = fingerprint(files)
    project = CACHE / f"project-{key}"
    model = CACHE / f"plain-{key}.tar.gz"
    if not project.is_dir():
        write_project(project, files)
    if model.is_file():
        log(f"plain Rasa: cached model {model.relative_to(ROOT)}")
        return model, project
    log(f"plain Rasa: training {model.name} (Rasa's default pipeline and policies; cached afterwards)...")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-plain-") as work:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false"}
        command = [
            "nice", "-n", "10", str(Path(sys.executable).parent / "rasa"), "train",
            "--config", str(project / "config.yml"),
            "--domain", str(project / "domain.yml"),
            "--data", str(project / "data"),
            "--out", work, "--fixed-model-name", "plain",
        ]  # fmt: skip
        result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"training the plain model failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        CACHE.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(work) / "plain.tar.gz"), model)
    log(f"plain Rasa: trained in {time.monotonic() - started:.0f} s")
    return model, project


if __name__ == "__main__":
    print(trained_model()[0])
