"""One row and the rows its foreign keys point to, read with a written-out query.

The hottest reads of a student's requests (the signed-in user, the test by its address,
the student's own attempt) are one row each with a join or two. Building the ORM's query
for them again on every request cost more CPU than reading the rows (BENCHMARKS.md), so
these reads build their SQL once per database and shape, and turn the row into model
instances as the ORM does: the same converters per field (SQLite's booleans and dates
come back as numbers and text), `from_db`, and the related instances already cached, so
`attempt.quiz.module` asks nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class _Part:
    model: type[models.Model]
    attnames: list[str]
    converters: list[tuple[Any, list[Callable]]]
    parent: int  # index of the part whose foreign key points here (-1: the row itself)
    link: str  # that foreign key's name


@dataclass(frozen=True)
class _Reader:
    sql: str
    parts: tuple[_Part, ...]


@cache
def _reader(
    alias: str, model: type[models.Model], related: tuple[str, ...], where: str, extra: str
) -> _Reader:
    connection = connections[alias]
    quote = connection.ops.quote_name
    # Each path's table alias and model: the row itself is "" (t0).
    tables: dict[str, tuple[str, type[models.Model]]] = {"": ("t0", model)}
    joins = [f"{quote(model._meta.db_table)} t0"]
    for index, path in enumerate(related, start=1):
        head, _, name = path.rpartition("__")
        near, near_model = tables[head]
        field = near_model._meta.get_field(name)
        if not isinstance(field, models.ForeignKey) or field.null:
            raise ValueError(f"{path}: only non-null foreign keys are joined")
        target = field.related_model
        assert isinstance(target, type)  # resolved once the app registry is ready
        table = f"t{index}"
        tables[path] = (table, target)
        joins.append(
            f"JOIN {quote(target._meta.db_table)} {table} "
            f"ON {table}.{quote(target._meta.pk.column)} = {near}.{quote(field.column)}"
        )
    paths = list(tables)
    parts = []
    columns: list[str] = []
    for path, (table, current) in tables.items():
        head, _, name = path.rpartition("__")
        fields = current._meta.concrete_fields
        columns += [f"{table}.{quote(f.column)}" for f in fields]
        converters = []
        for field in fields:
            column = field.get_col(table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            converters.append((column, found))
        parent = paths.index(head) if path else -1
        parts.append(_Part(current, [f.attname for f in fields], converters, parent, name))
    select = ", ".join([*columns, extra] if extra else columns)
    # Only the models' table and column names and the caller's fixed text go into the
    # query; every value is a parameter.
    sql = f"SELECT {select} FROM {' '.join(joins)} WHERE {where}"  # noqa: S608
    return _Reader(sql, tuple(parts))


def read_row(
    model: type[M],
    *related: str,
    where: str,
    params: Sequence[Any],
    extra: str = "",
) -> tuple[M, Any] | None:
    """(the instance, the `extra` column's value) of the first row found, or None.

    `related`: foreign-key paths to join and cache, as for select_related ("quiz",
    "quiz__module"); the row is t0 and each path t1, t2, ... in order, for `where`
    (fixed text: values go in `params`). Only non-null foreign keys (inner joins).
    """
    alias = router.db_for_read(model)
    connection = connections[alias]
    reader = _reader(alias, model, related, where, extra)
    with connection.cursor() as cursor:
        cursor.execute(reader.sql, list(params))
        row = cursor.fetchone()
    if row is None:
        return None
    return _instance(reader, connection, row), (row[-1] if extra else None)


def read_rows(
    model: type[M], *related: str, where: str, params: Sequence[Any], lock: bool = False
) -> list[M]:
    """Every row found, as read_row's instances; `where` may end with an ORDER BY.

    `lock`: row-lock them (FOR UPDATE, so the joined rows too) where the database has
    row locks.
    """
    alias = router.db_for_read(model)
    connection = connections[alias]
    if lock and connection.features.has_select_for_update:
        where += " FOR UPDATE"
    reader = _reader(alias, model, related, where, "")
    with connection.cursor() as cursor:
        cursor.execute(reader.sql, list(params))
        return [_instance(reader, connection, row) for row in cursor.fetchall()]


def _instance(reader: _Reader, connection: BaseDatabaseWrapper, row: Sequence[Any]) -> Any:
    instances: list[models.Model] = []
    start = 0
    for part in reader.parts:
        values = list(row[start : start + len(part.attnames)])
        start += len(part.attnames)
        for i, (column, converters) in enumerate(part.converters):
            for convert in converters:
                values[i] = convert(values[i], column, connection)
        instance = part.model.from_db(connection.alias, part.attnames, values)
        if part.parent >= 0:
            # The descriptor caches it; the foreign key's id is already this row's.
            setattr(instances[part.parent], part.link, instance)
        instances.append(instance)
    return instances[0]
