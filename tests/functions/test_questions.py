"""Questions asked in an incident's thread are answered there, with sources; elsewhere opsloop stays quiet."""

from __future__ import annotations

import time

import boto3
from moto import mock_aws

from opsloop.incidents import IncidentStore
from opsloop.models import Analysis, Classification, Incident, Source
from opsloop.ports import PostedMessage
from opsloop.questions import answer_in_thread
from opsloop.slack.messages import IncidentRoom

from .helpers import create_table, load_event

INCIDENT = load_event("state_machine_input.json")["incident"]


class EchoAnalyst:
    def __init__(self) -> None:
        self.seen: list[Incident] = []

    def analyze(self, incident: Incident, classification: Classification) -> Analysis:
        self.seen.append(incident)
        return Analysis(summary="Pool exhausted <!channel>", root_cause="A batch job holds connections.",
                        fix_steps=["Stop the batch job."], sources=[Source("runbooks/rds", title="RDS pool")])


class Thread(IncidentRoom):
    def __init__(self) -> None:
        self.replies: list[tuple[PostedMessage, str]] = []

    def post_in_thread(self, message: PostedMessage, text: str) -> str:
        self.replies.append((message, text))
        return "1790000001.000100"


def test_a_question_in_the_incident_thread_gets_a_sourced_answer_there() -> None:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        store = IncidentStore(ddb, create_table(ddb))
        store.create_incident(INCIDENT, now=time.time())
        store.link_thread("C0OPS", "1790000000.000100", INCIDENT["incident_id"], now=time.time())
        analyst, thread = EchoAnalyst(), Thread()

        answered = answer_in_thread("C0OPS", "1790000000.000100", "why did the pool run out? " + "x" * 5000,
                                    store=store, notifier=thread, analyst=analyst)
        quiet = answer_in_thread("C0OPS", "1790000999.000100", "unrelated thread", store=store, notifier=thread,
                                 analyst=analyst)

    assert answered and not quiet
    assert len(thread.replies) == 1 and thread.replies[0][0].ts == "1790000000.000100"
    text = thread.replies[0][1]
    assert "RDS pool" in text and "Stop the batch job." in text
    assert "<!channel>" not in text, "model output is escaped before it reaches Slack"
    assert len(analyst.seen[0].message) < len(INCIDENT["message"]) + 1200, "the question is bounded"


class LongAnalyst:
    def analyze(self, incident: Incident, classification: Classification) -> Analysis:
        sentences = " ".join(f"Sentence number {i} explains one more detail of the pool exhaustion." for i in range(150))
        return Analysis(summary="Long answer", root_cause=sentences, fix_steps=["Stop the batch job."],
                        sources=[Source("runbooks/rds", title="RDS pool", uri="https://wiki.example.com/rds")])


def test_a_long_answer_is_split_at_sentence_boundaries_into_several_thread_messages() -> None:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        store = IncidentStore(ddb, create_table(ddb))
        store.create_incident(INCIDENT, now=time.time())
        store.link_thread("C0OPS", "1790000000.000100", INCIDENT["incident_id"], now=time.time())
        thread = Thread()
        assert answer_in_thread("C0OPS", "1790000000.000100", "why?", store=store, notifier=thread,
                                analyst=LongAnalyst())
    texts = [t for _, t in thread.replies]
    assert len(texts) >= 3 and all(len(t) <= 3000 for t in texts)
    assert all(m.ts == "1790000000.000100" for m, _ in thread.replies), "every piece stays in the thread"
    body = "\n".join(texts)
    assert all(f"Sentence number {i} explains one more detail of the pool exhaustion." in body for i in range(150)), \
        "nothing is cut off mid-sentence or dropped"
    assert "[1] <https://wiki.example.com/rds|RDS pool>" in texts[-1], "the answer cites its sources, linked"
