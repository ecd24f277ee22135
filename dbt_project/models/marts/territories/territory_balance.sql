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
{%- set role_list = "'" ~ roles | join("', '") ~ "'" %}
{%- set low = t.get('tolerance_low', 0.85) %}
{%- set high = t.get('tolerance_high', 1.15) %}
with

reps as (

    select * from {{ ref('stg_sales_force__reps') }}
    where rep_role in ({{ role_list }})

),

accounts as (

    select
        acc.account_id,
        acc.owner_rep_id,
        acc.territory_id,
        acc.latitude,
        acc.longitude,
        card.potential_eur,
        card.revenue_r12,
        card.opportunity_eur,
        case
            when cov.is_remote_class then 0 else coalesce(cov.calls_per_year, 0)
        end as calls_per_year
    from {{ ref('account_coverage') }} as cov
    inner join {{ ref('dim_accounts') }} as acc on cov.account_id = acc.account_id
    left join {{ ref('account_scorecard') }} as card on cov.account_id = card.account_id

),

per_rep as (

    select
        rep.rep_id,
        rep.rep_name,
        rep.rep_role,
        rep.territory_id,
        rep.weekly_capacity_hours * {{ weeks }} as capacity_hours,
        count(acc.account_id) as active_accounts,
        coalesce(sum(acc.potential_eur), 0) as potential_eur,
        coalesce(sum(acc.revenue_r12), 0) as revenue_r12,
        coalesce(sum(acc.opportunity_eur), 0) as opportunity_eur,
        coalesce(sum(acc.calls_per_year), 0) as guideline_calls_per_year,
        coalesce(sum(acc.calls_per_year), 0)::double * {{ hours_per_visit }} as workload_hours,
        coalesce(sum(
            2 * 6371.0088 * asin(sqrt(
                pow(sin(radians(acc.latitude - rep.home_latitude) / 2), 2)
                + cos(radians(rep.home_latitude)) * cos(radians(acc.latitude))
                * pow(sin(radians(acc.longitude - rep.home_longitude) / 2), 2)
            )) * acc.calls_per_year
        ), 0) as travel_km,
        count(acc.account_id) filter (
            where acc.territory_id is distinct from rep.territory_id
        ) as exceptions_count
    from reps as rep
    left join accounts as acc on rep.rep_id = acc.owner_rep_id
    group by all

),

means as (

    select
        avg(active_accounts) as active_accounts,
        avg(potential_eur) as potential_eur,
        avg(revenue_r12) as revenue_r12,
        avg(opportunity_eur) as opportunity_eur,
        avg(workload_hours) as workload_hours,
        avg(travel_km) as travel_km
    from per_rep

)

select
    per.rep_id,
    per.rep_name,
    per.rep_role,
    per.territory_id,
    per.active_accounts::integer as active_accounts,
    per.potential_eur,
    per.revenue_r12,
    per.opportunity_eur,
    per.guideline_calls_per_year::double as guideline_calls_per_year,
    per.workload_hours,
    per.capacity_hours,
    per.workload_hours / nullif(per.capacity_hours, 0) as capacity_used_share,
    per.travel_km,
    per.active_accounts / nullif(avg_rep.active_accounts, 0) - 1 as accounts_deviation,
    per.potential_eur / nullif(avg_rep.potential_eur, 0) - 1 as potential_deviation,
    per.revenue_r12 / nullif(avg_rep.revenue_r12, 0) - 1 as revenue_deviation,
    per.opportunity_eur / nullif(avg_rep.opportunity_eur, 0) - 1 as opportunity_deviation,
    per.workload_hours / nullif(avg_rep.workload_hours, 0) - 1 as workload_deviation,
    per.travel_km / nullif(avg_rep.travel_km, 0) - 1 as travel_deviation,
    100 * per.workload_hours / nullif(avg_rep.workload_hours, 0) as balance_index,
    coalesce(
        per.workload_hours between {{ low }} * avg_rep.workload_hours and {{ high }} * avg_rep.workload_hours,
        false
    ) as is_within_tolerance,
    per.exceptions_count::integer as exceptions_count
from per_rep as per
cross join means as avg_rep
order by per.rep_id
