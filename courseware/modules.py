"""The module page YAML format, and loading it into the database all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from courseware.models import Module, Objective, Resource
from courseware.yamlspec import Loc, Located, Problem, SpecError, read_located

Slug = Annotated[StrictStr, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=50)]
Link = Annotated[StrictStr, Field(pattern=r"^(https?://\S+|/\S*)$", max_length=500)]
Text = Annotated[StrictStr, Field(min_length=1)]
# The column sizes of courseware.models: SQLite would store a longer value, PostgreSQL fails.
Title = Annotated[StrictStr, Field(min_length=1, max_length=200)]
Line = Annotated[StrictStr, Field(min_length=1, max_length=300)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectiveSpec(Strict):
    key: Slug
    text: Line


class LinkSpec(Strict):
    title: Title
    url: Link
    note: Annotated[StrictStr, Field(max_length=300)] = ""
    objectives: list[Slug] = []


class GroupSpec(Strict):
    title: Title
    resources: list[LinkSpec] = Field(min_length=1)


class ModuleSpec(Strict):
    slug: Slug
    title: Title
    summary: Line
    hours: StrictInt = Field(gt=0, le=1000)
    position: StrictInt = Field(default=0, ge=0, le=32767)
    overview: Text
    objectives: list[ObjectiveSpec] = Field(min_length=1)
    theory: list[GroupSpec] = []
    practice: list[LinkSpec] = []
    additional: list[LinkSpec] = []


def _check_references(doc: Located, spec: ModuleSpec) -> None:
    keys: set[str] = set()
    for i, objective in enumerate(spec.objectives):
        if objective.key in keys:
            doc.problem(("objectives", i, "key"), f"duplicate objective key {objective.key!r}")
        keys.add(objective.key)
    links: list[tuple[Loc, LinkSpec]] = [
        (("theory", g, "resources", r), link)
        for g, group in enumerate(spec.theory)
        for r, link in enumerate(group.resources)
    ]
    links += [(("practice", i), link) for i, link in enumerate(spec.practice)]
    links += [(("additional", i), link) for i, link in enumerate(spec.additional)]
    for loc, link in links:
        for j, key in enumerate(link.objectives):
            if key not in keys:
                doc.problem((*loc, "objectives", j), f"unknown objective {key!r}")


def module_links(spec: ModuleSpec) -> list[str]:
    """Every resource URL the module lists, in page order."""
    groups = [link for group in spec.theory for link in group.resources]
    return [link.url for link in [*groups, *spec.practice, *spec.additional]]


def database_ready() -> bool:
    """Whether the database exists and is migrated far enough to hold modules.

    A fresh clone has no database yet; asking SQLite would create an empty file.
    """
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3") and not Path(str(settings["NAME"])).exists():
        return False
    try:
        return Module._meta.db_table in connection.introspection.table_names()
    except DatabaseError:
        return False


def module_parse(path: Path | str) -> ModuleSpec:
    """Validate one module file; raise SpecError naming file, line and field."""
    doc = read_located(path)
    spec = doc.validate(ModuleSpec)
    if spec is not None:
        _check_references(doc, spec)
    doc.raise_problems()
    assert spec is not None
    return spec


@transaction.atomic
def module_save(spec: ModuleSpec) -> Module:
    """Create or update the module; objectives keep their ids (quiz questions use them)."""
    module, _ = Module.objects.update_or_create(
        slug=spec.slug,
        defaults={
            "title": spec.title,
            "summary": spec.summary,
            "overview": spec.overview,
            "hours": spec.hours,
            "position": spec.position,
        },
    )
    objectives = {}
    for position, item in enumerate(spec.objectives):
        objectives[item.key], _ = Objective.objects.update_or_create(
            module=module, key=item.key, defaults={"text": item.text, "position": position}
        )
    # PROTECT on question tags makes this fail loudly rather than orphan questions.
    module.objectives.exclude(key__in=objectives).delete()

    module.resources.all().delete()
    rows = [
        (Resource.Section.THEORY, group.title, link)
        for group in spec.theory
        for link in group.resources
    ]
    rows += [(Resource.Section.PRACTICE, "", link) for link in spec.practice]
    rows += [(Resource.Section.ADDITIONAL, "", link) for link in spec.additional]
    for position, (section, group, link) in enumerate(rows):
        resource = Resource.objects.create(
            module=module,
            section=section,
            group=group,
            title=link.title,
            url=link.url,
            note=link.note,
            position=position,
        )
        resource.objectives.set([objectives[key] for key in link.objectives])
    return module


def modules_load(paths: list[Path | str], *, check_only: bool = False) -> list[str]:
    """Validate every file first, then save all of them in one transaction.

    `check_only` saves too and rolls back, so it also finds what only the database knows:
    an objective that the file drops while quiz questions are still tagged with it.
    """
    specs, problems = [], []
    for path in paths:
        try:
            specs.append(module_parse(path))
        except SpecError as exc:
            problems += exc.problems
    if problems:
        raise SpecError(problems)
    with transaction.atomic():
        for path, spec in zip(paths, specs, strict=True):
            try:
                with transaction.atomic():
                    module_save(spec)
            except ProtectedError as exc:
                problems.append(_objective_in_use(path, exc))
        if problems:
            raise SpecError(problems)
        if check_only:
            transaction.set_rollback(True)
    return [spec.slug for spec in specs]


def _objective_in_use(path: Path | str, exc: ProtectedError) -> Problem:
    """The file drops an objective that something (quiz questions) still points at."""
    keys = sorted(
        {getattr(getattr(obj, "objective", None), "key", str(obj)) for obj in exc.protected_objects}
    )
    line = read_located(path).line_of(("objectives",))
    message = f"cannot drop objective(s) still used by quiz questions: {', '.join(keys)}"
    return Problem(str(path), line, "objectives", message)
