"""The template learner: positions that vary in a log source become one incident, without rewriting history."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from opsloop.fingerprint import fingerprint, fingerprint_rows, run_cli
from opsloop.templates import (
    Bucket,
    DynamoTemplateStore,
    InMemoryTemplateStore,
    LearnerConfig,
    TemplateLearner,
    final_fingerprint,
)

from ..functions.helpers import create_table

SLOW = LearnerConfig(evidence=4)  # two names are not yet a variable: each template stays a pattern of its own
SERVICES = ["orders", "payments", "billing", "search", "checkout", "catalog", "shipping", "invoices"]


def consumer(name: str) -> str:
    return f"the broker dropped the connection of consumer {name}"


def keys(learner: TemplateLearner, lines: list[str], scope: str = "svc") -> list[str]:
    return [row[0] for row in learner.resolve_rows(scope, fingerprint_rows(lines))]


def test_masking_alone_keeps_unseen_names_apart() -> None:
    # the problem the learner solves: a process name without digits is a static word to masking
    assert len({fingerprint(consumer(s)).fingerprint for s in SERVICES}) == len(SERVICES)


def test_a_position_seen_with_enough_distinct_values_becomes_one_incident_keyed_by_the_first_fingerprint() -> None:
    learner = TemplateLearner(InMemoryTemplateStore())
    got = keys(learner, [consumer(s) for s in SERVICES])
    assert len(set(got)) == 1
    assert got[0] == fingerprint(consumer("orders")).fingerprint  # the first issued key stays the key
    (row,) = learner.resolve_rows("svc", fingerprint_rows([consumer("a-brand-new-one")]))
    assert row[0] == got[0] and row[1] == "the broker dropped the connection of consumer <*>"


def test_two_errors_that_differ_in_one_word_stay_apart() -> None:
    learner = TemplateLearner(InMemoryTemplateStore())
    lines = ["connection refused by the upstream payment gateway", "connection reset by the upstream payment gateway"]
    assert len(set(keys(learner, lines * 5))) == 2


def test_a_merge_never_changes_an_issued_key_it_adds_aliases_every_reader_follows() -> None:
    store = InMemoryTemplateStore()
    learner = TemplateLearner(store, SLOW)
    early = keys(learner, [consumer("orders")]) + keys(learner, [consumer("payments")]) + keys(learner, [consumer("billing")])
    assert len(set(early)) == 3  # evidence 4: three values are not yet a variable
    later = keys(learner, [consumer("search"), consumer("payments")])
    assert later == [early[0], early[0]]  # the merge keeps the oldest root; payments now follows it
    assert store.alias_of("svc", early[1]) == early[0] and store.alias_of("svc", early[2]) == early[0]
    assert {final_fingerprint(store, "svc", k) for k in early} == {early[0]}
    assert store.alias_of("svc", early[0]) is None


def test_the_default_makes_a_position_variable_at_its_second_value_but_not_in_the_first_two_words() -> None:
    learner = TemplateLearner(InMemoryTemplateStore())
    assert len(set(keys(learner, [consumer("orders"), consumer("payments")]))) == 1
    lines = [f"{verb} {what} for the nightly export job" for verb in ("started", "finished") for what in ("upload", "sync")]
    assert len(set(keys(learner, lines))) == 4  # the first two words say what happened


def test_containers_share_what_one_of_them_learned() -> None:
    store = InMemoryTemplateStore()
    a, b = TemplateLearner(store), TemplateLearner(store)
    root = keys(a, [consumer(s) for s in SERVICES[:4]])[0]
    assert keys(b, [consumer("never-seen-by-b"), consumer("orders")]) == [root, root]


def test_a_container_that_loses_the_write_race_reads_again_and_loses_nothing() -> None:
    class RacingStore(InMemoryTemplateStore):
        """Another container writes the bucket between this one's read and its write, once."""

        def __init__(self) -> None:
            super().__init__()
            self.raced = False

        def save(self, scope: str, bucket: str, version: int, text: str) -> bool:
            if not self.raced:
                self.raced = True
                TemplateLearner(InMemoryTemplateStoreView(self), SLOW).resolve_rows(scope, fingerprint_rows([consumer("extra")]))
            return super().save(scope, bucket, version, text)

    class InMemoryTemplateStoreView(InMemoryTemplateStore):
        def __init__(self, inner: InMemoryTemplateStore) -> None:
            self.inner = inner

        def load(self, scope: str, buckets: Any) -> dict[str, tuple[int, str]]:
            return InMemoryTemplateStore.load(self.inner, scope, buckets)

        def save(self, scope: str, bucket: str, version: int, text: str) -> bool:
            return InMemoryTemplateStore.save(self.inner, scope, bucket, version, text)

    store = RacingStore()
    learner = TemplateLearner(store, SLOW)
    keys(learner, [consumer("orders")])
    stored = store.load("svc", [next(iter({k[1] for k in store._buckets}))])
    (bucket,) = (Bucket.from_json(text, version) for version, text in stored.values())
    assert sorted(p.template for p in bucket.patterns) == sorted([consumer("extra"), consumer("orders")])
    assert bucket.version == 2


def test_traces_and_a_failing_store_keep_the_masked_fingerprint() -> None:
    trace = ('Traceback (most recent call last):\n  File "/var/task/app.py", line 3, in handler\n'
             "    run()\nValueError: bad input for orders")
    rows = fingerprint_rows([trace] * 8)

    class Down(InMemoryTemplateStore):
        def load(self, scope: str, buckets: Any) -> dict[str, tuple[int, str]]:
            raise ConnectionError("store unreachable")

    assert TemplateLearner(InMemoryTemplateStore()).resolve_rows("svc", rows) == rows
    plain = fingerprint_rows([consumer(s) for s in SERVICES])
    assert TemplateLearner(Down()).resolve_rows("svc", plain) == plain


def test_bad_constants_are_refused() -> None:
    with pytest.raises(ValueError, match="learner constants"):
        LearnerConfig(evidence=1)
    with pytest.raises(ValueError, match="learner constants"):
        LearnerConfig(mixed_evidence=-1)


def test_command_prints_the_final_resolved_fingerprint_of_every_line() -> None:
    lines = [consumer(s) + "\n" for s in SERVICES] + ["disk full on /dev/sda1\n"]
    out = io.StringIO()
    assert run_cli(lines, out) == 0
    rows = [json.loads(r) for r in out.getvalue().splitlines()]
    assert len(rows) == len(lines) and all(set(r) == {"fingerprint", "template"} for r in rows)
    assert len({r["fingerprint"] for r in rows[:-1]}) == 1  # the first three too: they resolve through aliases
    assert rows[0]["template"] == "the broker dropped the connection of consumer <*>"
    assert rows[-1]["fingerprint"] != rows[0]["fingerprint"]
    masked = io.StringIO()
    run_cli(lines, masked, learn=False)
    assert len({json.loads(r)["fingerprint"] for r in masked.getvalue().splitlines()}) == len(lines)


@pytest.fixture()
def table() -> Any:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        yield ddb, create_table(ddb)


def test_the_incidents_table_holds_buckets_and_aliases_with_first_writer_wins(table: Any) -> None:
    ddb, name = table
    store = DynamoTemplateStore(ddb, name)
    a, b = TemplateLearner(store, SLOW), TemplateLearner(DynamoTemplateStore(ddb, name), SLOW)
    issued = keys(a, [consumer(s) for s in SERVICES[:3]]) + keys(b, [consumer(s) for s in SERVICES[3:]])
    assert len(set(issued[3:])) == 1 and issued[3] == issued[0]
    assert final_fingerprint(store, "svc", issued[1]) == issued[0]
    assert store.add_alias("svc", issued[1], "something-else") == issued[0]  # an alias never changes
    ((version, text),) = store.load("svc", ["8#-"]).values()
    assert version == 2
    assert store.save("svc", "8#-", 0, Bucket().to_json()) is False  # lost the race: it exists
    assert store.save("svc", "8#-", 1, Bucket().to_json()) is False  # lost the race: a newer version
    assert Bucket.from_json(text, version).patterns[0].template == "the broker dropped the connection of consumer <*>"
    items = {i["pk"]["S"].split("#")[0] for i in ddb.scan(TableName=name)["Items"]}
    assert items == {"TPL", "ALIAS"}


def test_many_buckets_in_one_batch_are_read_in_chunks(table: Any) -> None:
    ddb, name = table
    store = DynamoTemplateStore(ddb, name)
    # one bucket per exception class: 130 of them, more than one BatchGetItem call reads
    names = [f"{a}{b}Error" for a in "ABCDEFGHIJ" for b in "abcdefghijklm"]
    lines = [f"{name} raised by the worker pool" for name in names]
    first = keys(TemplateLearner(store), lines)
    again = keys(TemplateLearner(store), lines)
    assert first == again == [fingerprint(line).fingerprint for line in lines]
    stored = {i["pk"]["S"] for i in ddb.scan(TableName=name)["Items"]}
    assert len(stored) == 130 and all(k.startswith("TPL#svc#6#") for k in stored)


@pytest.mark.parametrize("learn, incidents", [(True, 1), (False, len(SERVICES))])
def test_intake_opens_one_incident_for_an_error_whose_process_name_varies(table: Any, learn: bool, incidents: int) -> None:
    from opsloop.config import load_settings
    from opsloop.incidents import IncidentStore
    from opsloop.eventbus import EventBridgePublisher
    from opsloop.intake import Intake
    from opsloop.local.runner import encode_subscription

    ddb, name = table
    events = boto3.client("events", region_name="us-east-1")
    learner = TemplateLearner(DynamoTemplateStore(ddb, name)) if learn else None
    intake = Intake(load_settings({}), IncidentStore(ddb, name), EventBridgePublisher(events, "default"), clock=lambda: 1_790_000_000.0,
                    templates=learner)
    data = encode_subscription("/ecs/orders-api", [consumer(s) for s in SERVICES] * 3)["awslogs"]["data"]
    result = intake.handle_subscription(data)
    assert len(result.opened) == incidents
    assert sum(result.counted.values()) == 3 * len(SERVICES)  # nothing lost, every line counted once


def test_two_roots_aliased_to_each_other_at_once_resolve_to_the_same_key_for_every_reader() -> None:
    store = InMemoryTemplateStore()
    assert store.add_alias("svc", "bbbb", "aaaa") == "aaaa"
    assert store.add_alias("svc", "aaaa", "bbbb") == "bbbb"  # another container, the same moment
    assert final_fingerprint(store, "svc", "aaaa") == final_fingerprint(store, "svc", "bbbb") == "aaaa"
    state = Bucket(aliases={"bbbb": "aaaa", "aaaa": "bbbb"})
    learner = TemplateLearner(store)
    assert learner._apply(state, [("bbbb", "x y z", None)], {}, learn=False)[0][("bbbb", "x y z", None)][0] == "aaaa"


def test_long_templates_and_empty_lines_are_not_learned() -> None:
    long_line = " ".join(f"w{chr(97 + i % 26)}x" for i in range(80))
    rows = fingerprint_rows([long_line, "", consumer("orders")] * 4)
    out = TemplateLearner(InMemoryTemplateStore()).resolve_rows("svc", rows)
    assert out[0] == rows[0] and out[1] == rows[1]
    assert out[2][0] == rows[2][0]


def rows_of(templates: list[str]) -> list[tuple[str, str, None, tuple[()]]]:
    """Rows as a masking that left these templates would give them (each template its own fingerprint)."""
    return [(hashlib.sha256(t.encode()).hexdigest()[:16], t, None, ()) for t in templates]


def test_values_of_one_kind_merge_at_once_while_words_wait_for_evidence() -> None:
    # a masking that leaves the sign of a block id splits one error in two: both tokens are block ids
    learner = TemplateLearner(InMemoryTemplateStore())
    blocks = ["deleting block blk_<*> from replica set", "deleting block blk_-<*> from replica set"]
    got = [row[0] for row in learner.resolve_rows("svc", rows_of(blocks))]
    assert got[0] == got[1]
    # key=value with one key: the value is what varies (a user name without digits is not a word of the error)
    users = ["session opened for user=alice by cron", "session opened for user=bob by cron"]
    got = [row[0] for row in learner.resolve_rows("svc", rows_of(users))]
    assert got[0] == got[1]
    # an empty value, or another key, is not a value of the same kind (a new source: nothing learned yet;
    # evidence 4, so that these words do not merge as words either)
    other = ["session opened for user= by cron", "session opened for uid=alice by cron"]
    fresh = TemplateLearner(InMemoryTemplateStore(), SLOW)
    assert len({row[0] for row in fresh.resolve_rows("svc", rows_of(users[:1] + other))}) == 3
    # words still need evidence: two that differ in one word stay apart
    words = ["deleting block blk_<*> from replica set", "deleting block blk_<*> from replica pool"]
    waits = TemplateLearner(InMemoryTemplateStore(), LearnerConfig(evidence=3))
    assert len({row[0] for row in waits.resolve_rows("svc", rows_of(words))}) == 2


def test_evidence_counts_distinct_values_so_a_closed_set_of_two_words_stays_apart() -> None:
    # many users with two methods: the user position varies, the method is a closed set of two words
    users = [f"user{c}" for c in "abcdefgh"]
    lines = [f"Failed {method} for invalid user {u} from <*>" for u in users for method in ("password", "none")]
    learner = TemplateLearner(InMemoryTemplateStore(), LearnerConfig(evidence=3, max_diff=1, min_static=3))
    got = dict(zip(lines, (row[0] for row in learner.resolve_rows("svc", rows_of(lines)))))
    password = {got[line] for line in lines if " password " in line}
    none = {got[line] for line in lines if " none " in line}
    assert len(password) == 1 and len(none) == 1 and password != none
    # counted as templates (the former rule), the eight "none" templates would have made the method a variable


def test_the_first_words_of_a_message_never_vary_with_a_prefix() -> None:
    users = ["alice", "bob", "carol", "dave", "erin"]
    lines = [f"{verb} password for {u} from <*> port <*>" for u in users for verb in ("Failed", "Accepted", "Rejected",
                                                                                         "Postponed")]
    with_prefix = TemplateLearner(InMemoryTemplateStore(), LearnerConfig(evidence=2, min_static=2, prefix=1))
    got = dict(zip(lines, (row[0] for row in with_prefix.resolve_rows("svc", rows_of(lines)))))
    assert len(set(got.values())) == 4  # one incident per verb, whatever the user
    assert all(len({got[line] for line in lines if line.startswith(v)}) == 1
               for v in ("Failed", "Accepted", "Rejected", "Postponed"))
    without = TemplateLearner(InMemoryTemplateStore(), LearnerConfig(evidence=2, min_static=2, prefix=0))
    assert len({row[0] for row in without.resolve_rows("svc", rows_of(lines))}) < 4


def test_a_word_against_a_value_needs_a_third_value_before_the_position_varies() -> None:
    # a quoted name against a dotted one: two forms of a message as often as two values of one variable
    services = ["Successfully started service 'sparkExecutorActorSystem' on port <*>",
                "Successfully started service 'org.apache.spark.network.netty.NettyBlockTransferService' on port <*>"]
    learner = TemplateLearner(InMemoryTemplateStore())
    assert len({row[0] for row in learner.resolve_rows("svc", rows_of(services))}) == 2
    third = "Successfully started service 'org.apache.spark.rpc.RpcEndpoint' on port <*>"
    got = [row[0] for row in learner.resolve_rows("svc", rows_of(services + [third]))]
    assert len(set(got)) == 1  # three values: a variable
    # with mixed_evidence 0 the word and the value merge at the second value, as two words do
    eager = TemplateLearner(InMemoryTemplateStore(), LearnerConfig(mixed_evidence=0))
    assert len({row[0] for row in eager.resolve_rows("svc", rows_of(services))}) == 1
