-- Grain: one row per (scenario, zone_id): the optimizer's proposal (source
-- territories.territory_solution, asset territories/territory_solution) beside the current
-- assignment. A zone's current rep is the rep owning most of its accounts; before / after
-- figures are per rep over the zones of the proposal:
--   current_rep_workload_before / current_rep_travel_km_before: the current rep's zones today
--   proposed_rep_workload_after / proposed_rep_travel_km_after: the proposed rep's zones
--   in this scenario. Workload in hours per year, travel in one-way km per year.
-- Nothing in the sources changes: it is a proposal. In a database built without the
-- optimizer (dbt on its own, a hand-made test database) the source table does not exist:
-- the model is then empty (same fallback as the linking source).
{%- set relation = source('territories', 'territory_solution') %}
{%- set found = relation %}
{%- if execute and relation.schema is not none and relation.identifier is not none %}
    {%- set found = adapter.get_relation(
            database=relation.database, schema=relation.schema,
            identifier=relation.identifier) %}
{%- endif %}
with

solution as (
    {%- if found is not none %}

        select * from {{ relation }}
    {%- else %}

        select
            null::varchar as scenario,
            null::integer as scenario_order,
            null::double as km_per_move,
            null::varchar as status,
            null::varchar as solver_message,
            null::double as objective,
            null::double as best_bound,
            null::double as gap,
            null::double as solve_seconds,
            null::double as band_low_hours,
            null::double as band_high_hours,
            null::varchar as zone_level,
            null::varchar as zone_id,
            null::integer as accounts,  -- noqa: RF04
            null::double as workload_hours,
            null::double as visits_per_year,
            null::double as latitude,
            null::double as longitude,
            null::varchar as current_rep_id,
            null::varchar as proposed_rep_id,
            null::boolean as is_moved,
            null::integer as moved_accounts,
            null::boolean as is_locked,
            null::varchar as lock_reason,
            null::double as current_distance_km,
            null::double as proposed_distance_km,
            null::double as current_travel_km,
            null::double as proposed_travel_km,
            null::timestamp as solved_at
        where false
    {%- endif %}
)

select
    scenario,
    scenario_order,
    km_per_move,
    status,
    solver_message,
    gap,
    solve_seconds,
    band_low_hours,
    band_high_hours,
    zone_level,
    zone_id,
    accounts,
    workload_hours,
    visits_per_year,
    current_rep_id,
    proposed_rep_id,
    is_moved,
    moved_accounts,
    is_locked,
    lock_reason,
    current_distance_km,
    proposed_distance_km,
    current_travel_km,
    proposed_travel_km,
    case
        when current_rep_id is not null
            then sum(workload_hours) over (partition by scenario, current_rep_id)
    end as current_rep_workload_before,
    case
        when current_rep_id is not null
            then sum(current_travel_km) over (partition by scenario, current_rep_id)
    end as current_rep_travel_km_before,
    case
        when proposed_rep_id is not null
            then sum(workload_hours) over (partition by scenario, proposed_rep_id)
    end as proposed_rep_workload_after,
    case
        when proposed_rep_id is not null
            then sum(proposed_travel_km) over (partition by scenario, proposed_rep_id)
    end as proposed_rep_travel_km_after,
    sum(proposed_travel_km) over (partition by scenario) as scenario_travel_km,
    sum(current_travel_km) over (partition by scenario) as current_travel_km_total,
    (sum(coalesce(moved_accounts, 0)) over (partition by scenario))::integer as scenario_moved_accounts,
    solved_at
from solution
order by scenario_order, zone_id
