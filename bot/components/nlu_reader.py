"""Rasa's NLU alone, from a trained model archive: what ``attune explain`` reads a message with.

``rasa.core.agent.Agent`` would load the whole prediction graph, the dialogue policies
included (TED is most of a minute on a busy machine), to parse a message.  Only the nodes the
NLU output depends on are loaded here (``GraphSchema.minimal_graph_schema``), and the message
goes through them as Rasa's processor sends it (``_parse_message_with_graph``): the same
tokenizer, featurizers, intent classifier, language detector and emotion component, so the
parse data is what the action server receives.
"""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.engine.graph import ExecutionContext
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT

from bot.components.input_checks import check_text, clean_text

# Rasa's processor names its graph inputs so (rasa/core/processor.py); spelled here as constants.
PLACEHOLDER_MESSAGE = "__message__"
PLACEHOLDER_TRACKER = "__tracker__"
SENDER = "attune-explain"


@dataclass(frozen=True)
class NluReader:
    """The NLU part of one trained model's prediction graph, ready to parse messages."""

    runner: DaskGraphRunner
    target: str

    def parse(self, text: object) -> dict[str, Any]:
        """The parse data of one message; ``InvalidInput`` (a ValueError) when the text is refused."""
        message = UserMessage(clean_text(check_text(text, "message")), sender_id=SENDER)
        tracker = DialogueStateTracker(SENDER, [])
        results = self.runner.run(
            inputs={PLACEHOLDER_MESSAGE: [message], PLACEHOLDER_TRACKER: tracker}, targets=[self.target]
        )
        parsed: dict[str, Any] = {TEXT: "", INTENT: {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}}
        parsed.update(results[self.target][0].as_dict(only_output_properties=True))
        return parsed


@contextmanager
def open_reader(model_archive: Path) -> Iterator[NluReader]:
    """The NLU of ``model_archive``, unpacked into a temporary directory removed on exit."""
    with tempfile.TemporaryDirectory(prefix="attune-explain-") as storage:
        model_storage, metadata = LocalModelStorage.from_model_archive(Path(storage), model_archive)
        schema = metadata.predict_schema.minimal_graph_schema([metadata.nlu_target])
        runner = DaskGraphRunner.create(
            graph_schema=schema,
            model_storage=model_storage,
            execution_context=ExecutionContext(graph_schema=schema, model_id=metadata.model_id),
        )
        yield NluReader(runner, metadata.nlu_target)
