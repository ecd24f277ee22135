"""The optimizer on the working database: zones of accounts -> units, field reps -> reps,
locks from the company's locks file; every scenario's proposal written to
`territories.territory_solution` (read by the dbt mart `territory_proposal`).

Units: active accounts (account_coverage) grouped by the configured zone level. Workload =
calls per year of the class guideline x (call time + travel time per visit), for accounts
whose class is not served remotely. Visits = those calls; travel = distance from the
zone's centroid to the rep's home x visits (one-way km per year). The zone's current rep is
the rep (of the configured roles) owning most of its accounts; moving it moves the
accounts owned by the others. A zone without workload stays with its current rep, except
in a contiguous scenario, where it goes with the territory around it (locked, it could
cut a territory in two).

Contiguity (per scenario): zones are neighbours per the company's `adjacency_file`
(pairs through zones without active accounts joined, see adjacency.restrict) or, without
one, per the Delaunay triangulation of the zones' centroids.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from orchestration.territories.adjacency import delaunay_adjacency, read_adjacency, restrict
from orchestration.territories.config import TerritoriesConfig, load_locks
from orchestration.territories.model import Instance, Rep, Tolerance, Unit
from orchestration.territories.solver import ScenarioResult, solve

NO_GUIDELINE = "no call guideline: stays with its rep"

SCHEMA = "territories"
TABLE = "territory_solution"
# what the last solution was solved from: a night whose inputs are the same keeps it
INPUTS_TABLE = "territory_solution_inputs"
COLUMNS = """
    scenario varchar not null,
    scenario_order integer not null,
    km_per_move double,
    status varchar not null,
    solver_message varchar,
    objective double,
    best_bound double,
    gap double,
    solve_seconds double,
    band_low_hours double,
    band_high_hours double,
    zone_level varchar not null,
    zone_id varchar not null,
    accounts integer not null,
    workload_hours double not null,
    visits_per_year double not null,
    latitude double,
    longitude double,
    current_rep_id varchar,
    proposed_rep_id varchar,
    is_moved boolean,
    moved_accounts integer,
    is_locked boolean not null,
    lock_reason varchar,
    current_distance_km double,
    proposed_distance_km double,
    current_travel_km double,
    proposed_travel_km double,
    solved_at timestamp not null
"""

ZONE_EXPR = {
    "postcode": "a.postcode",
    "city": "a.department_code || ' ' || upper(a.city)",
    "department_code": "a.department_code",
    "account": "a.account_id",
    "zone": "z.zone_id",
}
# the join a zone level needs besides dim_accounts
ZONE_JOIN = {"zone": "left join intermediate.int_accounts__zones as z using (account_id)"}


@dataclass
class TerritoryRun:
    instance: Instance | None
    results: list[ScenarioResult]
    zones_without_coordinates: int
    rows: int
    seconds: float
    locks_ignored: list[str] = field(default_factory=list)
    adjacency: str | None = None  # where the neighbours came from, when a scenario needed them
    # set when the inputs were those of the stored solution, which was kept: when it was solved
    kept_from: datetime | None = None

    def summary(self) -> str:
        if self.instance is None:
            return "territories: not configured"
        if self.kept_from is not None:
            return (
                f"{len(self.instance.units)} zones, {len(self.instance.reps)} reps: inputs "
                f"unchanged since the solve of {self.kept_from:%Y-%m-%d %H:%M}, proposal kept"
            )
        head = (
            f"{len(self.instance.units)} zones, {len(self.instance.reps)} reps, band "
            f"{self.instance.tolerance}, {self.zones_without_coordinates} zones without "
            f"coordinates left out"
        )
        if self.adjacency:
            head += f", adjacency: {self.adjacency}"
        return "; ".join([head, *(r.summary() for r in self.results)])


def build_instance(con, config: TerritoriesConfig, locks_path: Path | None):
    """(Instance, zones left out for lack of coordinates, {zone: lock reason}, locks ignored)."""
    zone = ZONE_EXPR[config.zone_level]
    roles = list(config.rep_roles)
    reps_rows = con.execute(
        """
        select rep_id, home_latitude, home_longitude, weekly_capacity_hours
        from staging.stg_sales_force__reps
        where rep_role in (select unnest(?::varchar[]))
          and home_latitude is not null and home_longitude is not null
        order by rep_id
        """,
        [roles],
    ).fetchall()
    reps = [
        Rep(r[0], lat=r[1], lon=r[2], capacity=(r[3] or 0) * config.working_weeks_per_year)
        for r in reps_rows
    ]
    rep_ids = {r.id for r in reps}
    # The accounts are summed up per zone in DuckDB, not fetched (a million rows at 1M
    # accounts). Coordinates and calls are added up in account order (list_sum of an
    # ordered list): a sum of doubles depends on the order of its additions, and a parallel
    # sum could differ in its last bits from one night to the next, change the inputs
    # fingerprint and solve again for nothing.
    accounts = f"""
        select
            {zone} as zone_id,
            a.account_id,
            a.latitude,
            a.longitude,
            a.owner_rep_id,
            case when c.is_remote_class then 0 else coalesce(c.calls_per_year, 0) end as calls
        from marts.account_coverage as c
        inner join marts.dim_accounts as a using (account_id)
        {ZONE_JOIN.get(config.zone_level, "")}
        where {zone} is not null
    """
    rows = con.execute(
        f"""
        with accounts as ({accounts}),
        located as (
            select * from accounts where latitude is not null and longitude is not null
        ),
        owners as (
            select zone_id, owner_rep_id, count(*) as owned, min(account_id) as first_account
            from accounts
            where owner_rep_id in (select unnest(?::varchar[]))
            group by zone_id, owner_rep_id
        ),
        by_zone as (
            select
                zone_id,
                count(*) as accounts,
                list_sum(list(cast(calls as double) order by account_id)) as calls
            from accounts
            group by zone_id
        ),
        centroids as (
            select
                zone_id,
                list_sum(list(latitude order by account_id)) / count(*) as lat,
                list_sum(list(longitude order by account_id)) / count(*) as lon
            from located
            group by zone_id
        ),
        owned as (
            select
                zone_id,
                list(owner_rep_id order by first_account) as owner_ids,
                list(owned order by first_account) as owned_accounts
            from owners
            group by zone_id
        )
        select
            by_zone.zone_id,
            by_zone.accounts,
            by_zone.calls,
            centroids.lat,
            centroids.lon,
            coalesce(owned.owner_ids, []) as owner_ids,
            coalesce(owned.owned_accounts, []) as owned_accounts
        from by_zone
        left join centroids using (zone_id)
        left join owned using (zone_id)
        order by by_zone.zone_id
        """,
        [sorted(rep_ids)],
    ).fetchall()
    zones = {
        zone_id: {
            "accounts": accounts_in_zone,
            "calls": calls,
            "lat": lat,
            "lon": lon,
            "owned": dict(zip(owner_ids, owned_accounts, strict=True)),
        }
        for zone_id, accounts_in_zone, calls, lat, lon, owner_ids, owned_accounts in rows
    }

    locked: dict[str, tuple[str, str]] = {}
    ignored: list[str] = []
    if locks_path is not None:
        locks = load_locks(locks_path)
        account_zone = dict(
            con.execute(
                f"select account_id, zone_id from ({accounts}) "
                "where account_id in (select unnest(?::varchar[]))",
                [[lock.account_id for lock in locks if lock.account_id]],
            ).fetchall()
        )
        # a lock that no longer fits the data is reported, not fatal: the night goes on
        for lock in locks:
            where = f"{locks_path.name}:{lock.line}"
            zone_id = lock.zone_id or account_zone.get(lock.account_id)
            if lock.rep_id not in rep_ids:
                ignored.append(f"{where}: rep {lock.rep_id} is not a rep of roles {roles}")
            elif zone_id is None or zone_id not in zones:
                what = f"zone {lock.zone_id}" if lock.zone_id else f"account {lock.account_id}"
                ignored.append(f"{where}: {what} is not an active account's zone")
            elif zone_id in locked and locked[zone_id][0] != lock.rep_id:
                ignored.append(f"{where}: zone {zone_id} already locked to {locked[zone_id][0]}")
            else:
                locked[zone_id] = (lock.rep_id, lock.reason or "locked")

    units, left_out, reasons = [], 0, {}
    for zone_id, z in zones.items():
        if z["lat"] is None:
            left_out += 1
            continue
        owned = z["owned"]
        current = max(sorted(owned), key=lambda r: owned[r]) if owned else None
        workload = z["calls"] * config.hours_per_visit
        lock_rep = None
        if zone_id in locked:
            lock_rep, reasons[zone_id] = locked[zone_id]
        elif workload == 0 and current is not None:
            lock_rep, reasons[zone_id] = current, NO_GUIDELINE
        units.append(
            Unit(
                id=zone_id,
                workload=workload,
                current_rep=current,
                lat=z["lat"],
                lon=z["lon"],
                visits=z["calls"],
                accounts=z["accounts"],
                locked_rep=lock_rep,
                owned=owned,
            )
        )
    if not reps and config.generated_reps is not None:
        reps = generated_reps(units, config)
    tolerance = Tolerance(config.tolerance.low, config.tolerance.high)
    return Instance(units, reps, tolerance), left_out, reasons, ignored


def generated_reps(units: list[Unit], config: TerritoriesConfig) -> list[Rep]:
    """`generated_reps.count` reps based at the centres of a workload-weighted k-means of the
    zone centroids (farthest-point start, 30 rounds; deterministic). Ids GR01, GR02, ..."""
    spec = config.generated_reps
    points = sorted(
        ((u.lat, u.lon, max(u.workload, 1e-6)) for u in units if u.lat is not None),
        key=lambda p: (-p[2], p[0], p[1]),
    )
    if not points:
        return []
    k = min(spec.count, len(points))

    def dist2(a, b):
        return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2

    centres = [points[0][:2]]
    while len(centres) < k:
        centres.append(max(points, key=lambda p: min(dist2(p, c) for c in centres) * p[2])[:2])
    for _ in range(30):
        groups: list[list] = [[] for _ in centres]
        for p in points:
            groups[min(range(k), key=lambda i: dist2(p, centres[i]))].append(p)
        centres = [
            (
                sum(p[0] * p[2] for p in g) / sum(p[2] for p in g),
                sum(p[1] * p[2] for p in g) / sum(p[2] for p in g),
            )
            if g
            else centres[i]
            for i, g in enumerate(groups)
        ]
    capacity = spec.weekly_capacity_hours * config.working_weeks_per_year
    return [
        Rep(f"GR{i + 1:02d}", lat=lat, lon=lon, capacity=capacity)
        for i, (lat, lon) in enumerate(sorted(centres))
    ]


def run_territories(
    working_db: Path,
    config: TerritoriesConfig | None,
    locks_path: Path | None = None,
    duckdb_config: dict | None = None,
    log=lambda _m: None,
    resolve: bool = False,
) -> TerritoryRun:
    """Solve every configured scenario and (re)write territories.territory_solution.

    Solving takes up to `time_limit_seconds` per scenario, and on most nights nothing it
    reads has changed (the zones' workloads move with class changes, not with each day of
    sell-out). So the solution is kept, not solved again, when the inputs are those it was
    solved from: the zones (workload, visits, accounts, centroid, current rep, lock), the
    reps, the band, the territories config and the optimizer's code. `resolve` solves
    anyway (a full refresh)."""
    import duckdb

    started = time.perf_counter()
    with duckdb.connect(str(working_db), config=duckdb_config or {}) as con:
        con.execute(f"create schema if not exists {SCHEMA}")
        if config is None:
            con.execute(f"create or replace table {SCHEMA}.{TABLE} ({COLUMNS})")
            con.execute(f"drop table if exists {SCHEMA}.{INPUTS_TABLE}")
            return TerritoryRun(None, [], 0, 0, time.perf_counter() - started)
        instance, left_out, reasons, ignored = build_instance(con, config, locks_path)
        for problem in ignored:
            log(f"lock ignored: {problem}")
        fingerprint = inputs_fingerprint(instance, reasons, config)
        kept_from = None if resolve else _solved_from(con, fingerprint)
        if kept_from is not None:
            rows = con.execute(f"select count(*) from {SCHEMA}.{TABLE}").fetchone()[0]
            return TerritoryRun(
                instance, [], left_out, rows, time.perf_counter() - started, ignored,
                kept_from=kept_from,
            )  # fmt: skip
        con.execute(f"create or replace table {SCHEMA}.{TABLE} ({COLUMNS})")
        con.execute(f"drop table if exists {SCHEMA}.{INPUTS_TABLE}")
        scenarios = [s.scenario(config.contiguity) for s in config.scenarios]
        contiguous, adjacency = None, None
        if any(s.contiguity for s in scenarios):
            contiguous, adjacency = contiguous_instance(instance, config, reasons)
            log(f"adjacency: {adjacency}")
        solved_at = datetime.now(UTC).replace(tzinfo=None)
        results, rows = [], []
        reps = {r.id: r for r in instance.reps}
        for order, (scenario_config, scenario) in enumerate(
            zip(config.scenarios, scenarios, strict=True), start=1
        ):
            solved = contiguous if scenario.contiguity else instance
            result = solve(
                solved,
                scenario,
                time_limit=config.time_limit_seconds,
                max_candidates=config.max_candidate_reps,
                gap_limit=config.gap_limit,
                # the previous scenario's proposal is within the band (and connected, if of
                # a contiguous scenario): a feasible start for a weighted scenario (min
                # disruption starts better from today's assignment)
                hint=None
                if scenario_config.km_per_move is None
                else next(
                    (
                        r.assignment
                        for r in sorted(
                            reversed(results), key=lambda r: r.contiguity != scenario.contiguity
                        )
                        if r.ok
                    ),
                    None,
                ),
            )
            log(result.summary())
            results.append(result)
            for u in solved.units:
                proposed = result.assignment.get(u.id)
                is_locked = u.locked_rep is not None and u.id in reasons
                d_cur = instance.distance(u, reps[u.current_rep]) if u.current_rep else None
                d_new = instance.distance(u, reps[proposed]) if proposed else None
                moved = u.moved_accounts(proposed) if proposed else None
                rows.append(
                    (
                        result.scenario,
                        order,
                        scenario_config.km_per_move,
                        result.status,
                        result.message,
                        result.objective,
                        result.best_bound,
                        result.gap,
                        result.solve_seconds,
                        result.band_hours[0],
                        result.band_hours[1],
                        config.zone_level,
                        u.id,
                        u.accounts,
                        u.workload,
                        u.visits,
                        u.lat,
                        u.lon,
                        u.current_rep,
                        proposed,
                        None if proposed is None else proposed != u.current_rep,
                        moved,
                        is_locked,
                        reasons.get(u.id) if is_locked else None,
                        d_cur,
                        d_new,
                        None if d_cur is None else d_cur * u.visits,
                        None if d_new is None else d_new * u.visits,
                        solved_at,
                    )
                )
        if rows:
            import pyarrow as pa

            names = [c.split()[0] for c in COLUMNS.strip().split(",\n")]
            solution = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
            con.register("solution", solution)
            con.execute(f"insert into {SCHEMA}.{TABLE} select * from solution")
            con.unregister("solution")
        con.execute(
            f"create table {SCHEMA}.{INPUTS_TABLE} as "
            "select ?::varchar as fingerprint, ?::timestamp as solved_at",
            [fingerprint, solved_at],
        )
    return TerritoryRun(
        instance, results, left_out, len(rows), time.perf_counter() - started, ignored, adjacency
    )


def inputs_fingerprint(instance: Instance, reasons: dict[str, str], config) -> str:
    """A hash of everything a solution depends on, the optimizer's own code included (a
    fixed solver is a reason to solve again)."""
    code = sorted(Path(__file__).parent.glob("*.py"))
    content = {
        "units": [asdict(u) for u in instance.units],
        "reps": [asdict(r) for r in instance.reps],
        "tolerance": asdict(instance.tolerance),
        "lock_reasons": sorted(reasons.items()),
        "config": config.model_dump(mode="json"),
        "code": [hashlib.sha256(p.read_bytes()).hexdigest() for p in code],
    }
    if config.adjacency_file and Path(config.adjacency_file).is_file():
        content["adjacency_file"] = hashlib.sha256(
            Path(config.adjacency_file).read_bytes()
        ).hexdigest()
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _solved_from(con, fingerprint: str) -> datetime | None:
    """When the stored solution was solved, if from these very inputs."""
    stored = con.execute(
        "select 1 from duckdb_tables() where schema_name = ? and table_name = ? "
        "and database_name = current_database()",
        [SCHEMA, INPUTS_TABLE],
    ).fetchone()
    if not stored:
        return None
    row = con.execute(
        f"select solved_at from {SCHEMA}.{INPUTS_TABLE} where fingerprint = ?", [fingerprint]
    ).fetchone()
    return row[0] if row else None


def contiguous_instance(
    instance: Instance, config: TerritoriesConfig, reasons: dict[str, str]
) -> tuple[Instance, str]:
    """The instance for contiguous scenarios: zones without workload unlocked (they follow
    the territory around them), with its adjacency; and a line saying where that came from."""
    units = [
        replace(u, locked_rep=None) if reasons.get(u.id) == NO_GUIDELINE else u
        for u in instance.units
    ]
    if config.adjacency_file:
        given = read_adjacency(config.adjacency_file)
        edges = restrict(given, {u.id for u in units})
        source = f"{len(edges):,} pairs from {config.adjacency_file} ({len(given):,} given)"
    else:
        edges = delaunay_adjacency(units)
        source = f"{len(edges):,} pairs, Delaunay triangulation of the zone centroids"
    return replace(instance, units=units, adjacency=edges), source
