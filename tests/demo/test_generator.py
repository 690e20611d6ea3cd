"""EcommerceGenerator: deterministic batches with the configured data-quality problems."""

from __future__ import annotations

import pyarrow as pa
import pytest

from floe_demo.generator import (
    NULLABLE_COLUMNS,
    ORDER_SCHEMA,
    EcommerceGenerator,
    batch_stats,
    window_start,
)

pytestmark = pytest.mark.requirement("007-FR-023", evidence="real")


def ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def test_same_seed_and_batch_give_the_same_bytes() -> None:
    first = EcommerceGenerator(seed=1).generate(1_700_000_000)
    again = EcommerceGenerator(seed=1).generate(1_700_000_000)
    assert ipc_bytes(first) == ipc_bytes(again)
    assert ipc_bytes(first) != ipc_bytes(EcommerceGenerator(seed=2).generate(1_700_000_000))
    assert ipc_bytes(first) != ipc_bytes(EcommerceGenerator(seed=1).generate(1_700_000_300))


def test_declared_schema_and_batch_size() -> None:
    table = EcommerceGenerator(batch_size=250).generate(1_700_000_000)
    assert table.schema == ORDER_SCHEMA
    assert table.num_rows == 250
    for column in ("order_id", "status", "amount", "currency", "created_at", "updated_at"):
        assert table.column(column).null_count == 0


@pytest.mark.parametrize("size", [100, 10_000])
def test_realised_rates_stay_within_tolerance(size: int) -> None:
    """Tolerance: 1 / batch_size on each rate (counts are exact, duplicates copy their nulls)."""
    generator = EcommerceGenerator(
        seed=3, batch_size=size, null_rate=0.02, duplicate_rate=0.01, late_arrival_rate=0.05
    )
    stats = batch_stats(generator.generate(1_700_000_000))
    unique = stats.rows - stats.duplicates
    assert abs(stats.duplicates / size - 0.01) <= 1 / size
    assert abs(stats.nulls / (size * len(NULLABLE_COLUMNS)) - 0.02) <= 0.02 * 0.01 + 1 / size
    assert stats.late >= round(unique * 0.05)
    assert stats.late / size <= 0.05 + 0.01 + 1 / size


def test_late_rows_are_created_before_the_window() -> None:
    table = EcommerceGenerator(seed=5, batch_size=1000).generate(1_700_000_000)
    start = window_start(1_700_000_000)
    rows = table.to_pylist()
    late = [row for row in rows if row["is_late"]]
    assert late
    assert all(row["created_at"] < start for row in late)
    assert all(row["created_at"] >= start for row in rows if not row["is_late"])
    assert all(row["updated_at"] >= row["created_at"] for row in rows)


def test_zero_rates_give_a_clean_batch() -> None:
    stats = batch_stats(
        EcommerceGenerator(null_rate=0, duplicate_rate=0, late_arrival_rate=0).generate(1)
    )
    assert (stats.nulls, stats.duplicates, stats.late) == (0, 0, 0)


@pytest.mark.parametrize(
    ("option", "value"), [("null_rate", 1.5), ("duplicate_rate", -0.1), ("batch_size", 0)]
)
def test_bad_knobs_are_refused(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        EcommerceGenerator(**{option: value})  # type: ignore[arg-type]
