-- Grain: one row per rep of the roles in var territories.rep_roles (default field reps and
-- key account managers): the rep's territory today = the active accounts they own (CRM
-- owner_rep_id).
--   workload_hours = sum of calls_per_year (class guideline, account_coverage; 0 for remote
--     classes) x territories.hours_per_visit ((call minutes + travel minutes) / 60)
--   travel_km = sum of great-circle km from the rep's home to the account x calls_per_year
--     (one-way km per year, the optimizer's travel measure at account level)
--   *_deviation = figure / mean of the reps - 1 (0 = at the mean, +0.2 = 20 % above)
--   balance_index = 100 x workload_hours / mean workload (100 = average load)
--   is_within_tolerance = workload within [tolerance_low, tolerance_high] x mean
--   exceptions_count = owned accounts whose CRM territory is not the rep's territory
{%- set t = var('territories', {}) %}
{%- set hours_per_visit = t.get('hours_per_visit', 80 / 60) %}
{%- set weeks = t.get('working_weeks_per_year', 46) %}
{%- set roles = t.get('rep_roles', ['field_rep', 'key_account_manager']) %}
{%- set low = t.get('tolerance_low', 0.85) %}
{%- set high = t.get('tolerance_high', 1.15) %}
with

reps as (

    select * from {{ ref('stg_sales_force__reps') }}
    where rep_role in ({% for r in roles %}'{{ r }}'{{ ',' if not loop.last }}{% endfor %})

),

accounts as (

    select
        a.account_id,
        a.owner_rep_id,
        a.territory_id,
        a.latitude,
        a.longitude,
        s.potential_eur,
        s.revenue_r12,
        s.opportunity_eur,
        case when c.is_remote_class then 0 else coalesce(c.calls_per_year, 0) end as calls_per_year
    from {{ ref('account_coverage') }} as c
    inner join {{ ref('dim_accounts') }} as a on c.account_id = a.account_id
    left join {{ ref('account_scorecard') }} as s on c.account_id = s.account_id

),

per_rep as (

    select
        r.rep_id,
        r.rep_name,
        r.rep_role,
        r.territory_id,
        r.weekly_capacity_hours * {{ weeks }} as capacity_hours,
        count(a.account_id) as accounts,
        coalesce(sum(a.potential_eur), 0) as potential_eur,
        coalesce(sum(a.revenue_r12), 0) as revenue_r12,
        coalesce(sum(a.opportunity_eur), 0) as opportunity_eur,
        coalesce(sum(a.calls_per_year), 0) as guideline_calls_per_year,
        coalesce(sum(a.calls_per_year), 0)::double * {{ hours_per_visit }} as workload_hours,
        coalesce(sum(
            2 * 6371.0088 * asin(sqrt(
                pow(sin(radians(a.latitude - r.home_latitude) / 2), 2)
                + cos(radians(r.home_latitude)) * cos(radians(a.latitude))
                * pow(sin(radians(a.longitude - r.home_longitude) / 2), 2)
            )) * a.calls_per_year
        ), 0) as travel_km,
        count(a.account_id) filter (
            where a.territory_id is distinct from r.territory_id
        ) as exceptions_count
    from reps as r
    left join accounts as a on r.rep_id = a.owner_rep_id
    group by all

),

means as (

    select
        avg(accounts) as accounts,
        avg(potential_eur) as potential_eur,
        avg(revenue_r12) as revenue_r12,
        avg(opportunity_eur) as opportunity_eur,
        avg(workload_hours) as workload_hours,
        avg(travel_km) as travel_km
    from per_rep

)

select
    p.rep_id,
    p.rep_name,
    p.rep_role,
    p.territory_id,
    p.accounts::integer as accounts,
    p.potential_eur,
    p.revenue_r12,
    p.opportunity_eur,
    p.guideline_calls_per_year::double as guideline_calls_per_year,
    p.workload_hours,
    p.capacity_hours,
    p.workload_hours / nullif(p.capacity_hours, 0) as capacity_used_share,
    p.travel_km,
    p.accounts / nullif(m.accounts, 0) - 1 as accounts_deviation,
    p.potential_eur / nullif(m.potential_eur, 0) - 1 as potential_deviation,
    p.revenue_r12 / nullif(m.revenue_r12, 0) - 1 as revenue_deviation,
    p.opportunity_eur / nullif(m.opportunity_eur, 0) - 1 as opportunity_deviation,
    p.workload_hours / nullif(m.workload_hours, 0) - 1 as workload_deviation,
    p.travel_km / nullif(m.travel_km, 0) - 1 as travel_deviation,
    100 * p.workload_hours / nullif(m.workload_hours, 0) as balance_index,
    coalesce(
        p.workload_hours between {{ low }} * m.workload_hours and {{ high }} * m.workload_hours,
        false
    ) as is_within_tolerance,
    p.exceptions_count::integer as exceptions_count
from per_rep as p
cross join means as m
order by p.rep_id
