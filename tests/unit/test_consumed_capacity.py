"""How the DynamoDB client counts the ConsumedCapacity of an answer, in the shapes DynamoDB gives it."""

from __future__ import annotations

from proxy.aws.dynamodb_client import OPERATIONS, ClientStats
from proxy.metrics import counter_family


def test_one_entry_counts_its_units_as_the_operations_kind() -> None:
    st = ClientStats()
    st.add_capacity("PutItem", "write", {"TableName": "t", "CapacityUnits": 3.0})
    st.add_capacity("PutItem", "write", {"TableName": "t", "CapacityUnits": 1.0})
    st.add_capacity("GetItem", "read", {"TableName": "t", "CapacityUnits": 0.5})
    assert st.capacity == {("t", "PutItem", "write"): 4.0, ("t", "GetItem", "read"): 0.5}


def test_batch_answers_count_each_table() -> None:
    st = ClientStats()
    st.add_capacity("BatchWriteItem", "write", [{"TableName": "a", "CapacityUnits": 25.0},
                                                {"TableName": "b", "CapacityUnits": 2.0}])
    assert st.capacity == {("a", "BatchWriteItem", "write"): 25.0, ("b", "BatchWriteItem", "write"): 2.0}


def test_an_entry_split_into_read_and_write_units_is_counted_by_those() -> None:
    # a transaction's entry may carry both; CapacityUnits is then their sum and not counted again
    st = ClientStats()
    st.add_capacity("TransactWriteItems", "write", [{"TableName": "t", "CapacityUnits": 5.0,
                                                     "ReadCapacityUnits": 1.0, "WriteCapacityUnits": 4.0}])
    assert st.capacity == {("t", "TransactWriteItems", "read"): 1.0, ("t", "TransactWriteItems", "write"): 4.0}


def test_malformed_entries_are_ignored() -> None:
    st = ClientStats()
    st.add_capacity("GetItem", "read", "nonsense")
    st.add_capacity("GetItem", "read", [None, {"TableName": "t", "CapacityUnits": "2"}, {"TableName": "t"}])
    assert st.capacity == {}


def test_expected_tables_are_exported_at_zero_for_every_operation() -> None:
    st = ClientStats()
    st.expect_tables(["t"])
    st.add_capacity("GetItem", "read", {"TableName": "t", "CapacityUnits": 1.0})
    fam = counter_family("cdp_dynamodb_consumed_capacity_units", "doc", ["table", "operation", "kind"], st.capacity)
    got = {(s.labels["operation"], s.labels["kind"]): s.value for s in fam.samples}
    assert set(got) == {(op, "read" if op in ("GetItem", "Query", "Scan", "BatchGetItem") else "write")
                        for op in OPERATIONS}
    assert got[("GetItem", "read")] == 1.0 and sum(got.values()) == 1.0
    assert {s.name for s in fam.samples} == {"cdp_dynamodb_consumed_capacity_units_total"}
