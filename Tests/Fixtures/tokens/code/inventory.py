"""A small inventory service: stock levels, reservations and a low-stock report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import defaultdict
from typing import Iterable


class OutOfStock(Exception):
    def __init__(self, sku: str, wanted: int, available: int) -> None:
        super().__init__(f"{sku}: wanted {wanted}, only {available} available")
        self.sku = sku
        self.wanted = wanted
        self.available = available


@dataclasses.dataclass
class Item:
    sku: str
    name: str
    on_hand: int = 0
    reserved: int = 0
    reorder_level: int = 10

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclasses.dataclass
class Reservation:
    order_id: str
    sku: str
    quantity: int
    expires_at: dt.datetime


class Inventory:
    def __init__(self, items: Iterable[Item] = ()) -> None:
        self._items: dict[str, Item] = {item.sku: item for item in items}
        self._reservations: dict[str, list[Reservation]] = defaultdict(list)

    def receive(self, sku: str, quantity: int) -> None:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self._items[sku].on_hand += quantity

    def reserve(self, order_id: str, sku: str, quantity: int, ttl_minutes: int = 15) -> Reservation:
        item = self._items[sku]
        if item.available < quantity:
            raise OutOfStock(sku, quantity, item.available)
        item.reserved += quantity
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=ttl_minutes)
        reservation = Reservation(order_id, sku, quantity, expires)
        self._reservations[order_id].append(reservation)
        return reservation

    def release_expired(self, now: dt.datetime | None = None) -> int:
        now = now or dt.datetime.now(dt.timezone.utc)
        released = 0
        for order_id, reservations in list(self._reservations.items()):
            keep = []
            for r in reservations:
                if r.expires_at <= now:
                    self._items[r.sku].reserved -= r.quantity
                    released += r.quantity
                else:
                    keep.append(r)
            if keep:
                self._reservations[order_id] = keep
            else:
                del self._reservations[order_id]
        return released

    def low_stock(self) -> list[Item]:
        return sorted(
            (i for i in self._items.values() if i.available <= i.reorder_level),
            key=lambda i: (i.available, i.sku),
        )

    def to_json(self) -> str:
        return json.dumps([dataclasses.asdict(i) for i in self._items.values()], indent=2)


if __name__ == "__main__":
    inv = Inventory([Item("A-100", "Widget", 40), Item("B-220", "Gadget", 8, reorder_level=5)])
    inv.reserve("order-1", "A-100", 35)
    try:
        inv.reserve("order-2", "A-100", 10)
    except OutOfStock as exc:
        print("rejected:", exc)
    for item in inv.low_stock():
        print(f"{item.sku:<8} {item.name:<10} available={item.available}")
    print(inv.to_json())
