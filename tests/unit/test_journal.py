"""The write-ahead journal: replay after a crash, torn records, low-water mark, segment clean-up."""

from __future__ import annotations

from proxy.writes.journal import DeadLetters, Journal


def _put(i: int) -> dict:
    return {"TableName": "t", "Item": {"pk": {"S": f"k{i}"}, "v": {"B": bytes([i % 256]) * 3}}}


def test_unconfirmed_entries_are_replayed_in_order(tmp_path):
    j = Journal(tmp_path)
    j.recover()
    for i in range(10):
        j.append("ks.t", "PutItem", _put(i))
    for seq in (1, 2, 3, 5):
        j.mark_done(seq)
    assert j.low_water == 3 and j.backlog == 6
    j.close()  # persists the low-water mark

    j2 = Journal(tmp_path)
    replay = j2.recover()
    assert [e.seq for e in replay] == [4, 5, 6, 7, 8, 9, 10]  # 5 is repeated: at-least-once
    assert replay[0].request["Item"]["pk"] == {"S": "k3"}
    assert replay[0].request["Item"]["v"] == {"B": "AwMD"}  # bytes travel as base64, as DynamoDB wants
    nxt = j2.append("ks.t", "PutItem", _put(99))
    assert nxt.seq == 11


def test_crash_without_close_replays_everything_after_the_last_checkpoint(tmp_path):
    j = Journal(tmp_path)
    j.recover()
    for i in range(5):
        j.append("ks.t", "PutItem", _put(i))
    j.mark_done(1)
    # no close(): a kill -9. The data is in the OS already.
    replay = Journal(tmp_path).recover()
    assert [e.seq for e in replay] == [1, 2, 3, 4, 5]


def test_a_torn_last_record_is_dropped_and_the_rest_kept(tmp_path):
    j = Journal(tmp_path)
    j.recover()
    for i in range(3):
        j.append("ks.t", "PutItem", _put(i))
    j._fh.write(b"\x00\x00\x01\x00garbage")  # a crash in the middle of an append
    j._fh.flush()
    replay = Journal(tmp_path).recover()
    assert [e.seq for e in replay] == [1, 2, 3]
    j3 = Journal(tmp_path)
    assert [e.seq for e in j3.recover()] == [1, 2, 3]  # and the file was repaired


def test_confirmed_segments_are_deleted(tmp_path):
    j = Journal(tmp_path, segment_bytes=300)
    j.recover()
    for i in range(20):
        j.append("ks.t", "PutItem", _put(i))
    segments = sorted(tmp_path.glob("segment-*.log"))
    assert len(segments) > 3
    for seq in range(1, 21):
        j.mark_done(seq)
    j.checkpoint()
    left = sorted(tmp_path.glob("segment-*.log"))
    assert len(left) == 1  # only the one still being appended to
    assert Journal(tmp_path).recover() == []


def test_dead_letters_keep_the_request_and_the_reason(tmp_path):
    j = Journal(tmp_path / "j")
    j.recover()
    e = j.append("ks.t", "PutItem", _put(1))
    dl = DeadLetters(tmp_path / "dead.jsonl")
    dl.add(e, "ValidationException: bad")
    (rec,) = dl.read()
    assert rec["seq"] == 1 and rec["operation"] == "PutItem" and "ValidationException" in rec["error"]
    assert rec["request"]["Item"]["pk"] == {"S": "k1"}
