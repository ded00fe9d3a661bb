"""Reads of customer records, always limited to what the acting user may see."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import connection, transaction
from django.db.models import Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.models import Region, RegionLevel, User
from customers import search
from customers.models import Contact, Customer, Document, DocumentVersion, Floor, Segment, Site

# Roles that see the customers of their own department (besides their own and their regions').
DEPARTMENT_SCOPE_ROLES = ("market_manager", "supervisor")
LIST_CAP = 10_000
# A search collects up to this many matching ids unordered (its n-gram index answers that
# quickly) and sorts them itself; beyond it ("2,500+") the term is broad enough for the
# database's newest-first walk to meet a page of matches at once. Around 1M customers the two
# strategies cost the same near sqrt(page size × customers) ≈ 7,000 matches; collecting is
# cheaper per row, so the cap sits lower.
SEARCH_CAP = 2_500


def _in_subtree(region_ids: Any) -> Q:
    """Regions that are one of `region_ids` (a list or a subquery) or lie below one of them."""
    return Q(id__in=region_ids) | Q(parent_id__in=region_ids) | Q(parent__parent_id__in=region_ids)


def region_subtree_ids(region_ids: list[int]) -> list[int]:
    """The given regions and every region below them (a province, its cities and districts).

    Resolved on the small region table first, so the customer query is a plain
    `region_id IN (...)` that its index answers."""
    if not region_ids:
        return []
    return list(Region.objects.filter(_in_subtree(region_ids)).values_list("id", flat=True))


@dataclass(frozen=True)
class VisibilityScope:
    """Which customers a user may see: every one, none, or those they own, those of a set of
    districts and cities (served regions with their whole subtree, territory districts) and,
    for department-scoped roles, their department's."""

    everything: bool = False
    owner_id: int | None = None  # None (and not everything): no customer at all
    region_ids: frozenset[int] = frozenset()
    department_id: int | None = None

    def branches(self, prefix: str = "") -> tuple[Q, ...] | None:
        """None: every customer. Otherwise the alternatives (OR) by which a row is visible, on
        the columns `owner_id`, `region_id`, `department_id` (with a prefix: a task's copies,
        `customer_owner_id` …)."""
        if self.everything:
            return None
        if self.owner_id is None:
            return (Q(pk__in=[]),)
        branches = [Q(**{f"{prefix}owner_id": self.owner_id})]
        if self.region_ids:
            # A list, not a subquery: the database can then use the region index (PostgreSQL
            # ORs it with the owner index).
            branches.append(Q(**{f"{prefix}region_id__in": sorted(self.region_ids)}))
        if self.department_id is not None:
            branches.append(Q(**{f"{prefix}department_id": self.department_id}))
        return tuple(branches)

    def admits(self, customer: Customer) -> bool:
        """The same rule as `branches`, for one customer already loaded (no query)."""
        if customer.merged_into_id is not None:
            return False
        if self.everything:
            return True
        if self.owner_id is None:
            return False
        return (
            customer.owner_id == self.owner_id
            or customer.region_id in self.region_ids
            or (self.department_id is not None and customer.department_id == self.department_id)
        )


def visibility_scope(user: User) -> VisibilityScope:
    """The user's scope, computed once per user object (like Django's permission cache: a
    request loads its user afresh, so a change of regions or roles applies from the next)."""
    cached: VisibilityScope | None = user.__dict__.get("_customer_scope")
    if cached is not None:
        return cached
    if user.has_perm("customers.view_all_customers"):
        scope = VisibilityScope(everything=True)
    elif not user.has_perm("customers.view_customer"):
        scope = VisibilityScope()
    else:
        # One query: the served regions with their whole subtree, and the territory districts.
        served = Region.objects.filter(staff=user).values("id")
        region_ids = set(
            Region.objects.filter(_in_subtree(served) | Q(territories__staff=user)).values_list(
                "id", flat=True
            )
        )
        department_id = None
        if user.department_id and user.has_role(*DEPARTMENT_SCOPE_ROLES):
            department_id = user.department_id
        scope = VisibilityScope(
            owner_id=user.pk, region_ids=frozenset(region_ids), department_id=department_id
        )
    user.__dict__["_customer_scope"] = scope
    return scope


def visibility_branches(user: User) -> tuple[Q, ...] | None:
    """None: every customer. Otherwise the alternatives (OR) by which this user sees a row:
    own customers, served regions, territory districts, the department's customers."""
    return visibility_scope(user).branches()


def any_of(branches: tuple[Q, ...]) -> Q:
    condition = branches[0]
    for branch in branches[1:]:
        condition |= branch
    return condition


def visibility_condition(user: User) -> Q | None:
    """None: every customer. Otherwise the rows this user may see."""
    branches = visibility_branches(user)
    return None if branches is None else any_of(branches)


def customers_visible_to(user: User) -> QuerySet[Customer]:
    qs = Customer.objects.filter(merged_into__isnull=True)
    condition = visibility_condition(user)
    if condition is not None:
        qs = qs.filter(condition)
    return qs


# A user holds a customers permission through a role (group) or directly.
_HAS_PERM = """(EXISTS (SELECT 1 FROM {user_groups} ug
            JOIN {group_perms} gp ON gp.group_id = ug.group_id
            JOIN {perm} p ON p.id = gp.permission_id
            JOIN {ctype} ct ON ct.id = p.content_type_id
            WHERE ug.user_id = u.id AND ct.app_label = 'customers' AND p.codename = '{codename}')
    OR EXISTS (SELECT 1 FROM {user_perms} up
               JOIN {perm} p ON p.id = up.permission_id
               JOIN {ctype} ct ON ct.id = p.content_type_id
               WHERE up.user_id = u.id AND ct.app_label = 'customers'
                 AND p.codename = '{codename}'))"""

# The rules of VisibilityScope seen from one customer (parameters: owner, district twice,
# department): everything, or view permission and one of own / served region (the district, its
# city or province) / territory district / the department for department-scoped roles.
_WHO_SEES = """
SELECT u.id FROM {user} u
WHERE u.is_active AND (
    u.is_superuser
    OR {has_view_all}
    OR ({has_view} AND (
        u.id = %s
        OR EXISTS (SELECT 1 FROM {region} r
                   LEFT JOIN {region} p ON p.id = r.parent_id
                   JOIN {user_regions} ur ON ur.region_id IN (r.id, r.parent_id, p.parent_id)
                   WHERE r.id = %s AND ur.user_id = u.id)
        OR EXISTS (SELECT 1 FROM {user_territories} ut
                   JOIN {territory_districts} td ON td.territory_id = ut.territory_id
                   WHERE ut.user_id = u.id AND td.region_id = %s)
        OR (u.department_id = %s
            AND EXISTS (SELECT 1 FROM {user_groups} ug
                        JOIN {role} r ON r.group_id = ug.group_id
                        WHERE ug.user_id = u.id AND r.code IN ({scope_roles})))
    ))
)"""


@lru_cache(maxsize=1)
def _who_sees_template() -> str:
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from accounts.models import Role, Territory

    tables = {
        "user": User._meta.db_table,
        "user_groups": User.groups.through._meta.db_table,
        "user_perms": User.user_permissions.through._meta.db_table,
        "user_regions": User.regions.through._meta.db_table,
        "user_territories": User.territories.through._meta.db_table,
        "territory_districts": Territory.districts.through._meta.db_table,
        "group_perms": Group.permissions.through._meta.db_table,
        "perm": Permission._meta.db_table,
        "ctype": ContentType._meta.db_table,
        "role": Role._meta.db_table,
        "region": Region._meta.db_table,
    }
    return _WHO_SEES.format(
        has_view_all=_HAS_PERM.format(codename="view_all_customers", **tables),
        has_view=_HAS_PERM.format(codename="view_customer", **tables),
        scope_roles=", ".join(f"'{code}'" for code in DEPARTMENT_SCOPE_ROLES),
        **tables,
    )


def _who_sees_sql(customer: Customer) -> tuple[str, list[Any]]:
    """`SELECT id FROM users WHERE …`: the active users who may see `customer`, by the rules of
    VisibilityScope seen from the customer. Written out as SQL (one EXISTS per rule) rather than
    built by the ORM: every task completion asks it, and the ORM's joins over groups,
    permissions, regions and territories multiplied rows it then had to de-duplicate."""
    params = [customer.owner_id, customer.region_id, customer.region_id, customer.department_id]
    return _who_sees_template(), params


def users_who_see(customer: Customer, users: QuerySet[User]) -> QuerySet[User]:
    """Those of `users` who may see `customer`, in one query."""
    from django.db.models.expressions import RawSQL

    if customer.merged_into_id is not None:
        return users.none()
    sql, params = _who_sees_sql(customer)
    return users.filter(pk__in=RawSQL(sql, params))  # noqa: S611 - fixed text, values bound


def role_members_who_see_sql(customer: Customer, role: str) -> tuple[str, list[Any]] | None:
    """`SELECT id …` of the active members of `role` who may see `customer` (those a pool task
    is offered to), for a caller to build on; None when nobody may (a merged customer)."""
    from accounts.models import Role

    if customer.merged_into_id is not None:
        return None
    sql, params = _who_sees_sql(customer)
    groups = User.groups.through._meta.db_table
    return (
        f"SELECT id FROM {User._meta.db_table} WHERE id IN ({sql}) AND id IN"  # noqa: S608
        f" (SELECT ug.user_id FROM {groups} ug JOIN {Role._meta.db_table} r"
        " ON r.group_id = ug.group_id WHERE r.code = %s)",
        [*params, role],
    )


def customer_visible(user: User, customer: Customer) -> bool:
    return visibility_scope(user).admits(customer)


def region_filter_options() -> list[tuple[int, str, str]]:
    """(id, label, level) of the cities and districts that have customers, by code; cached
    for five minutes (one indexed EXISTS probe per district to build)."""
    from django.core.cache import cache
    from django.db.models import Exists, OuterRef

    cached: list[tuple[int, str, str]] | None = cache.get("customers:region-options")
    if cached is not None:
        return cached
    districts = Region.objects.filter(level=RegionLevel.DISTRICT).filter(
        Exists(Customer.objects.filter(region_id=OuterRef("pk")))
    )
    rows = list(
        Region.objects.filter(
            Q(id__in=districts.values("id")) | Q(id__in=districts.values("parent_id"))
        )
        .order_by("code")
        .values_list("id", "full_name", "level")
    )
    cache.set("customers:region-options", rows, 300)
    return rows


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    region: Region | None = None
    status: str = ""
    category: str = ""
    kind: str = ""
    owner: User | None = None
    tag: str = ""
    sort: str = "-id"
    segment: Segment | None = None  # resolved with segments.segment_for_filter (usable ones)


# sort key → (field, descending); ties broken by id in the same direction (keyset pagination).
SORTS: dict[str, tuple[str, bool]] = {
    "-id": ("id", True),
    "id": ("id", False),
    "name": ("name", False),
    "-name": ("name", True),
    "-updated": ("updated_at", True),
}


@dataclass(frozen=True)
class CustomerQuery:
    """A filtered customer list before visibility is applied, with the user's visibility
    alternatives kept apart so that a page can be read branch by branch (see customer_page)."""

    base: QuerySet[Customer]  # not merged, filters and search applied; region and visibility not
    branches: tuple[Q, ...] | None  # None: the user sees every customer
    sort: str
    searching: bool
    region_ids: frozenset[int] | None = None  # the region filter's districts (None: no filter)
    # SQLite, a user with visibility branches, an n-gram search: its candidates, kept out of
    # `base` and intersected with the ids the user may see (see `queryset`).
    search_ids: search.SqliteSearch | None = None

    def narrowed_branches(self) -> tuple[Q, ...]:
        """The visibility branches within the region filter: a served-region branch becomes the
        intersection of both id lists (two `region_id IN` lists make SQLite's planner pick a
        worse index), and a branch outside the filter disappears."""
        assert self.branches is not None
        if self.region_ids is None:
            return self.branches
        narrowed = []
        for branch in self.branches:
            if len(branch.children) == 1 and not branch.negated:
                child = branch.children[0]
                if isinstance(child, tuple) and child[0] == "region_id__in":
                    ids = sorted(set(child[1]) & self.region_ids)
                    if ids:
                        narrowed.append(Q(region_id__in=ids))
                    continue
            narrowed.append(branch & Q(region_id__in=sorted(self.region_ids)))
        return tuple(narrowed)

    def filtered(self) -> QuerySet[Customer]:
        """The base with the region filter, for users who see every customer."""
        if self.region_ids is None:
            return self.base
        return self.base.filter(region_id__in=sorted(self.region_ids))

    @property
    def queryset(self) -> QuerySet[Customer]:
        if self.branches is None:
            qs = self.filtered()
        else:
            branches = self.narrowed_branches()
            if not branches:
                qs = self.base.none()
            elif self.search_ids is not None:
                qs = self.base.filter(id__in=_visible_candidates(branches, self.search_ids))
                if self.search_ids.check is not None:
                    qs = qs.filter(self.search_ids.check)
            else:
                qs = self.base.filter(any_of(branches))
        return qs.select_related("region", "owner").order_by(*_ordering(self.sort))


def _visible_candidates(branches: tuple[Q, ...], found: search.SqliteSearch) -> RawSQL:
    """`(ids of branch 1 UNION ALL ids of branch 2 …) INTERSECT the search's candidates`, one
    compound SELECT for SQLite. Each branch's ids come from its partial index alone (own,
    district, department: customers not merged), so the wide customer rows are read only for
    the few ids in both sets; `owner = me OR region IN (…)` next to the search instead made
    SQLite read every visible row (tens of thousands for an account manager) to test each
    against the candidates."""
    parts: list[str] = []
    params: list[Any] = []
    for branch in branches:
        ids = Customer.objects.filter(merged_into__isnull=True).filter(branch).order_by()
        sql, branch_params = ids.values("id").query.sql_with_params()
        parts.append(sql)
        params.extend(branch_params)
    sql = " UNION ALL ".join(parts) + " INTERSECT " + found.ids_sql
    return RawSQL(sql, (*params, *found.params))  # noqa: S611 - compiled by the ORM, values bound


def _ordering(sort: str) -> list[str]:
    field_name, descending = SORTS.get(sort, SORTS["-id"])
    if field_name == "id":
        return ["-id" if descending else "id"]
    return [f"-{field_name}", "-id"] if descending else [field_name, "id"]


def customer_query(user: User, filters: CustomerFilters) -> CustomerQuery:
    qs = Customer.objects.filter(merged_into__isnull=True)
    region_ids = None
    if filters.region is not None:
        region_ids = frozenset(region_subtree_ids([filters.region.pk]))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.category:
        qs = qs.filter(category=filters.category)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.owner is not None:
        qs = qs.filter(owner=filters.owner)
    if filters.tag:
        qs = qs.filter(tags__name=filters.tag)
    if filters.segment is not None:
        from customers.segments import segment_members_q  # segments reads this module

        qs = qs.filter(segment_members_q(filters.segment))
    searching = bool(filters.q.strip())
    branches = visibility_branches(user)
    search_ids = None
    if searching:
        found = search.search_parts(filters.q)
        if isinstance(found, search.SqliteSearch) and branches is not None:
            search_ids = found  # intersected with the visible ids (CustomerQuery.queryset)
        elif isinstance(found, search.SqliteSearch):
            qs = qs.filter(found.condition())
        elif found is not None:
            qs = qs.filter(found)
    sort = filters.sort if filters.sort in SORTS else "-id"
    return CustomerQuery(
        base=qs,
        branches=branches,
        sort=sort,
        searching=searching,
        region_ids=region_ids,
        search_ids=search_ids,
    )


def customer_list(user: User, filters: CustomerFilters) -> QuerySet[Customer]:
    return customer_query(user, filters).queryset


@dataclass
class Page:
    rows: list[Customer]
    next_cursor: str | None
    total_label: str


def _after(sort: str, cursor: str) -> Q | None:
    """Rows after the cursor "value|id" in the sort order (keyset: no OFFSET scans)."""
    field_name, descending = SORTS.get(sort, SORTS["-id"])
    value, _sep, raw_id = cursor.rpartition("|")
    if not raw_id.isdigit():
        return None
    op = "lt" if descending else "gt"
    if field_name == "id":
        return Q(**{f"id__{op}": int(raw_id)})
    return Q(**{f"{field_name}__{op}": value}) | Q(**{field_name: value, f"id__{op}": int(raw_id)})


def _rows_by_branch(query: CustomerQuery, after: Q | None, limit: int) -> list[Customer]:
    """The first `limit` visible rows, read one visibility branch at a time.

    `owner = me OR region_id IN (…)` ordered by id makes both databases collect every
    visible row and sort it (tens of thousands for an account manager); each branch alone
    walks its own `(column, -id)` index and stops after `limit` rows. The branches' first
    rows are merged here (ids and sort keys only), then the page is loaded by primary key."""
    assert query.branches is not None
    field_name, descending = SORTS[query.sort]
    order = _ordering(query.sort)
    keys: dict[int, tuple[Any, int]] = {}
    for branch in query.narrowed_branches():
        qs = query.base.filter(branch)
        if after is not None:
            qs = qs.filter(after)
        for pk, value in qs.order_by(*order).values_list("id", field_name)[:limit]:
            keys[pk] = (value, pk)
    chosen = sorted(keys, key=keys.__getitem__, reverse=descending)[:limit]
    by_id = Customer.objects.select_related("region", "owner").in_bulk(chosen)
    return [by_id[pk] for pk in chosen]


# Sorts whose keys compare the same in Python and in both databases (names do not: collations).
_BRANCH_SORT_FIELDS = ("id", "updated_at")


def _capped_count(query: CustomerQuery) -> int:
    """How many rows the list holds, counting no further than LIST_CAP + 1.

    On SQLite, with several visibility branches, the count is a UNION of one query per branch
    so that each reads its own index (an OR of them sends SQLite's planner to the status
    index); PostgreSQL ORs the branches' bitmap index scans itself."""
    branches = query.narrowed_branches() if query.branches is not None else ()
    if len(branches) < 2 or connection.vendor == "postgresql":  # PostgreSQL ORs the bitmaps
        return query.queryset.order_by().values("pk")[: LIST_CAP + 1].count()
    parts = [query.base.filter(branch).order_by().values("pk") for branch in branches]
    return parts[0].union(*parts[1:])[: LIST_CAP + 1].count()


def _load(ids: list[int]) -> list[Customer]:
    by_id = Customer.objects.select_related("region", "owner").in_bulk(ids)
    return [by_id[pk] for pk in ids]


def _ordered_ids(qs: QuerySet[Customer], limit: int) -> list[int]:
    """Ids first, rows second: the page's sort then handles integers only, and the joins of
    select_related run for one page (PostgreSQL misestimates text checks such as
    `name LIKE '%…%'` and would otherwise plan the joins for thousands of candidates)."""
    return list(qs.select_related(None).values_list("id", flat=True)[:limit])


def _newest_matches(qs: QuerySet[Customer], limit: int) -> list[int]:
    """The first ids of a broad search in page order.

    More than SEARCH_CAP rows match, so walking the primary key newest-first meets a page of
    them quickly. PostgreSQL cannot know that: it estimates `name LIKE '%…%'` as nearly never
    true and would fetch every n-gram candidate through a bitmap scan (tens of thousands of
    rows) or start parallel workers; for this one query it is told to walk the key."""
    if connection.vendor != "postgresql":
        return _ordered_ids(qs, limit)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        return _ordered_ids(qs, limit)


def _search_page(
    query: CustomerQuery, after: Q | None, size: int
) -> tuple[list[Customer], int | None]:
    """A search page, and the number of matches when there are at most SEARCH_CAP.

    The matching ids are collected unordered first, which every database answers from its
    n-gram index; when there are few (the usual search) that is the whole result, sorted
    here. Only a broad term (more than SEARCH_CAP matches) runs the ordered page query,
    whose newest-first walk then meets matches quickly."""
    qs = query.queryset
    if after is not None:
        qs = qs.filter(after)
    field_name, descending = SORTS[query.sort]
    keys = list(qs.order_by().values_list("id", field_name)[: SEARCH_CAP + 1])
    if len(keys) > SEARCH_CAP:
        return _load(_newest_matches(qs, size + 1)), None
    if field_name in _BRANCH_SORT_FIELDS:
        keys.sort(key=lambda key: (key[1], key[0]), reverse=descending)
        ids = [pk for pk, _value in keys[: size + 1]]
    else:  # names sort by the database's collation
        ids = _ordered_ids(qs.filter(id__in=[pk for pk, _value in keys]), size + 1)
    return _load(ids), len(keys)


def customer_page(query: CustomerQuery, cursor: str = "", size: int = 50) -> Page:
    """One page plus, on the first page only, a capped count (never more than LIST_CAP rows
    are counted, SEARCH_CAP for a search); later pages ("More") do not show the count."""
    sort = query.sort
    qs = query.queryset
    label = ""
    after = _after(sort, cursor) if cursor else None
    if query.searching:
        rows, matches = _search_page(query, after, size)
        if not cursor:
            label = f"{SEARCH_CAP:,}+" if matches is None else f"{matches:,}"
    else:
        if not cursor:
            counted = _capped_count(query)
            label = f"{LIST_CAP:,}+" if counted > LIST_CAP else f"{counted:,}"
        by_branch = (
            query.branches is not None
            and len(query.narrowed_branches()) > 1
            and SORTS[sort][0] in _BRANCH_SORT_FIELDS
        )
        if by_branch:
            rows = _rows_by_branch(query, after, size + 1)
        else:
            rows = _load(_ordered_ids(qs.filter(after) if after is not None else qs, size + 1))
    next_cursor = None
    if len(rows) > size:
        last = rows[size - 1]
        field_name, _desc = SORTS[sort]
        value = getattr(last, field_name)
        value = value.isoformat() if hasattr(value, "isoformat") else value
        next_cursor = f"{value}|{last.pk}"
    return Page(rows=rows[:size], next_cursor=next_cursor, total_label=label)


def customer_get(user: User, pk: int) -> Customer:
    """The customer, or Customer.DoesNotExist (shown as 404) when the user may not see it."""
    return (
        customers_visible_to(user)
        .select_related("region", "region__parent", "owner", "department", "created_by")
        .prefetch_related("tags")
        .get(pk=pk)
    )


def customer_from_param(user: User, raw: str) -> Customer | None:
    """The customer a query parameter (`?customer=<pk>`) names: None when none is named;
    Http404 when it is not a number or `user` may not see it."""
    from django.http import Http404

    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404
    try:
        return customer_get(user, int(raw))
    except Customer.DoesNotExist:
        raise Http404 from None


def customer_profile(customer: Customer) -> dict[str, Any]:
    contacts = list(customer.contacts.prefetch_related("consents"))
    sites = list(
        Site.objects.filter(customer=customer).prefetch_related(
            Prefetch(
                "floors",
                queryset=Floor.objects.select_related("plan__current").order_by("-number"),
            )
        )
    )
    documents = list(
        Document.objects.filter(customer=customer)
        .select_related("current", "site")
        .prefetch_related(
            Prefetch("versions", queryset=DocumentVersion.objects.select_related("uploaded_by"))
        )
    )
    return {"contacts": contacts, "sites": sites, "documents": documents}


def contact_get(user: User, pk: int) -> Contact:
    contact = Contact.objects.select_related("customer").get(pk=pk)
    if not customer_visible(user, contact.customer):
        raise Contact.DoesNotExist
    return contact


def version_get(user: User, pk: int) -> DocumentVersion:
    version = DocumentVersion.objects.select_related("document__customer").get(pk=pk)
    if not customer_visible(user, version.document.customer):
        raise DocumentVersion.DoesNotExist
    return version


@dataclass(frozen=True)
class DuplicateGroup:
    reason: str
    customers: list[Customer]


def duplicate_groups(user: User, limit: int = 100) -> list[DuplicateGroup]:
    """Likely duplicates among the customers `user` may see: same name in the same district,
    or a contact mobile shared by several customers."""
    from django.db.models import Count

    visible = customers_visible_to(user)
    groups: list[DuplicateGroup] = []
    same_name = (
        visible.values("region_id", "name")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("-n", "name")[:limit]
    )
    for row in same_name:
        members = list(
            visible.filter(region_id=row["region_id"], name=row["name"])
            .select_related("region", "owner")
            .order_by("id")
        )
        groups.append(DuplicateGroup("same_name", members))
    shared = (
        Contact.objects.filter(customer__in=visible.values("id"))
        .exclude(mobile="")
        .values("mobile")
        .annotate(n=Count("customer", distinct=True))
        .filter(n__gt=1)
        .order_by("-n")[:limit]
    )
    for row in shared:
        members = list(
            visible.filter(contacts__mobile=row["mobile"])
            .distinct()
            .select_related("region", "owner")
            .order_by("id")
        )
        groups.append(DuplicateGroup("same_mobile", members))
    return groups


def customer_export_rows(qs: QuerySet[Customer]) -> Any:
    """Rows for the spreadsheet export, with the primary contact, streamed in chunks."""
    primary = Prefetch(
        "contacts", queryset=Contact.objects.filter(is_primary=True), to_attr="primary"
    )
    return (
        qs.select_related("region", "owner")
        .prefetch_related(primary, "tags")
        .iterator(chunk_size=2000)
    )


# Columns only the search reads: lists of other records that show a customer defer them.
SEARCH_COLUMNS = (
    "notes",
    "pinyin",
    "initials",
    "phones",
    "grams_name",
    "grams_pinyin",
    "grams_initials",
    "grams_digits",
)


def customer_matches(user: User, text: str, size: int = 20) -> list[Customer]:
    """Up to `size` visible customers for a lookup box: the customer number itself first, then
    the search by name, pinyin, initials or phone (n-gram indexed)."""
    text = text.strip()
    if not text:
        return []
    found: list[Customer] = []
    if text.isdigit():
        found += list(customers_visible_to(user).select_related("region").filter(pk=int(text))[:1])
    page = customer_page(customer_query(user, CustomerFilters(q=text)), size=size)
    found += [c for c in page.rows if c not in found]
    return found[:size]
