"""Synthetic e-commerce orders with controllable data-quality problems.

The same seed and batch number give the same rows, byte for byte: every random draw comes from
one generator seeded by both, and every count of nulls, duplicates and late rows is exact
(`round(rate * batch_size)`), so the realised rates are the configured ones within 0.5 / batch_size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa

STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")
STATUS_WEIGHTS = (10, 30, 25, 25, 6, 4)
CURRENCIES = ("EUR", "USD", "GBP")
CHANNELS = ("web", "mobile", "marketplace")
COUNTRIES = ("DE", "FR", "NL", "US", "GB", "ES", "IT", "PL", "SE", "CA")
NULLABLE_COLUMNS = ("customer_id", "channel", "country", "item_count")
BATCH_WINDOW = timedelta(minutes=5)
LATE_BY = timedelta(hours=6)

ORDER_SCHEMA = pa.schema(
    [
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("customer_id", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("amount", pa.decimal128(12, 2), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("item_count", pa.int32()),
        pa.field("channel", pa.string()),
        pa.field("country", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("updated_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("is_late", pa.bool_(), nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
    ]
)


@dataclass(frozen=True)
class BatchStats:
    rows: int
    nulls: int
    duplicates: int
    late: int


def batch_id(seed: int, batch_number: int) -> str:
    return f"s{seed}-b{batch_number}"


def window_start(batch_number: int) -> datetime:
    """A batch number is the epoch second its window starts at (a schedule tick, or now)."""
    return datetime.fromtimestamp(batch_number, tz=UTC)


class EcommerceGenerator:
    """Batches of orders, as an order feed delivers them: some fields missing, some rows repeated,
    some arriving hours after they were created."""

    def __init__(
        self,
        seed: int = 42,
        batch_size: int = 100,
        null_rate: float = 0.02,
        duplicate_rate: float = 0.01,
        late_arrival_rate: float = 0.05,
    ) -> None:
        for name, rate in (
            ("null_rate", null_rate),
            ("duplicate_rate", duplicate_rate),
            ("late_arrival_rate", late_arrival_rate),
        ):
            if not 0 <= rate <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.seed = seed
        self.batch_size = batch_size
        self.null_rate = null_rate
        self.duplicate_rate = duplicate_rate
        self.late_arrival_rate = late_arrival_rate

    def generate(self, batch_number: int) -> pa.Table:
        rng = random.Random(f"{self.seed}:{batch_number}")
        size = self.batch_size
        start = window_start(batch_number)
        window_us = int(BATCH_WINDOW.total_seconds() * 1_000_000)
        this_batch = batch_id(self.seed, batch_number)

        duplicates = min(round(size * self.duplicate_rate), size - 1)
        unique = size - duplicates
        late_rows = set(
            rng.sample(range(unique), min(round(unique * self.late_arrival_rate), unique))
        )

        columns: dict[str, list[object]] = {field.name: [] for field in ORDER_SCHEMA}
        for row in range(unique):
            created = start + timedelta(microseconds=rng.randrange(window_us))
            if row in late_rows:
                created -= LATE_BY + timedelta(microseconds=rng.randrange(window_us))
            columns["order_id"].append(f"o-{this_batch}-{row:07d}")
            columns["customer_id"].append(f"c-{rng.randrange(1, 50_000):05d}")
            columns["status"].append(rng.choices(STATUSES, STATUS_WEIGHTS)[0])
            columns["amount"].append(Decimal(rng.randrange(199, 250_000)) / 100)
            columns["currency"].append(rng.choice(CURRENCIES))
            columns["item_count"].append(rng.randrange(1, 12))
            columns["channel"].append(rng.choice(CHANNELS))
            columns["country"].append(rng.choice(COUNTRIES))
            columns["created_at"].append(created)
            columns["updated_at"].append(created + timedelta(seconds=rng.randrange(0, 3600)))
            columns["is_late"].append(row in late_rows)
            columns["batch_id"].append(this_batch)

        cells = [(row, column) for row in range(unique) for column in NULLABLE_COLUMNS]
        for row, column in rng.sample(cells, round(len(cells) * self.null_rate)):
            columns[column][row] = None

        for source in rng.sample(range(unique), duplicates) if duplicates <= unique else []:
            for values in columns.values():
                values.append(values[source])

        return pa.Table.from_pydict(columns, schema=ORDER_SCHEMA)


def batch_stats(table: pa.Table) -> BatchStats:
    """What a batch really contains: null cells in the nullable columns, repeated rows, late rows."""
    nulls = sum(table.column(name).null_count for name in NULLABLE_COLUMNS)
    order_ids = table.column("order_id").to_pylist()
    late = sum(bool(flag) for flag in table.column("is_late").to_pylist())
    return BatchStats(
        rows=table.num_rows, nulls=nulls, duplicates=len(order_ids) - len(set(order_ids)), late=late
    )
