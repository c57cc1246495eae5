"""Crash-safe files: torn-line repair and shard rotation."""

from __future__ import annotations

from tinygen.store import ShardWriter, repair_torn_tail


def test_torn_tail_is_cut_to_the_last_whole_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": ')
    assert repair_torn_tail(path) is True
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    assert repair_torn_tail(path) is False


def test_torn_single_line_leaves_empty_file(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1')
    assert repair_torn_tail(path) is True
    assert path.read_bytes() == b""


def test_shard_writer_continues_a_partial_shard(tmp_path):
    writer = ShardWriter(tmp_path, shard_size=3, last_shard=0, last_count=0)
    for i in range(4):
        writer.write({"i": i})
    writer.close()
    resumed = ShardWriter(tmp_path, shard_size=3, last_shard=1, last_count=1)
    for i in range(4, 7):
        resumed.write({"i": i})
    resumed.close()
    lines = [
        len((tmp_path / "data" / f"part-0000{n}.jsonl").read_text().splitlines()) for n in range(3)
    ]
    assert lines == [3, 3, 1]
