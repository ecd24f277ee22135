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
{%- set columns = [
    ('scenario', 'varchar'),
    ('scenario_order', 'integer'),
    ('km_per_move', 'double'),
    ('status', 'varchar'),
    ('solver_message', 'varchar'),
    ('objective', 'double'),
    ('best_bound', 'double'),
    ('gap', 'double'),
    ('solve_seconds', 'double'),
    ('band_low_hours', 'double'),
    ('band_high_hours', 'double'),
    ('zone_level', 'varchar'),
    ('zone_id', 'varchar'),
    ('accounts', 'integer'),
    ('workload_hours', 'double'),
    ('visits_per_year', 'double'),
    ('latitude', 'double'),
    ('longitude', 'double'),
    ('current_rep_id', 'varchar'),
    ('proposed_rep_id', 'varchar'),
    ('is_moved', 'boolean'),
    ('moved_accounts', 'integer'),
    ('is_locked', 'boolean'),
    ('lock_reason', 'varchar'),
    ('current_distance_km', 'double'),
    ('proposed_distance_km', 'double'),
    ('current_travel_km', 'double'),
    ('proposed_travel_km', 'double'),
    ('solved_at', 'timestamp')
] %}
with

solution as (
    {%- if found is not none %}

    select * from {{ relation }}
    {%- else %}

    select
        {%- for name, type in columns %}
        cast(null as {{ type }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
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
    case when current_rep_id is not null then
        sum(workload_hours) over (partition by scenario, current_rep_id)
    end as current_rep_workload_before,
    case when current_rep_id is not null then
        sum(current_travel_km) over (partition by scenario, current_rep_id)
    end as current_rep_travel_km_before,
    case when proposed_rep_id is not null then
        sum(workload_hours) over (partition by scenario, proposed_rep_id)
    end as proposed_rep_workload_after,
    case when proposed_rep_id is not null then
        sum(proposed_travel_km) over (partition by scenario, proposed_rep_id)
    end as proposed_rep_travel_km_after,
    sum(proposed_travel_km) over (partition by scenario) as scenario_travel_km,
    sum(current_travel_km) over (partition by scenario) as current_travel_km_total,
    (sum(coalesce(moved_accounts, 0)) over (partition by scenario))::integer as scenario_moved_accounts,
    solved_at
from solution
order by scenario_order, zone_id
