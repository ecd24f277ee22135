-- Grain: one row per zone (var territories.zone_level: postcode, city = department + commune,
-- department_code, account, or zone = int_accounts__zones, e.g. a county) holding active
-- accounts.
--   allocated_accounts = accounts owned by a rep of territories.rep_roles
--   coverage_ratio = calls counting for the guideline made in r12 / guideline calls per year
--   zone_status, first that applies:
--     no_potential  no category potential known in the zone
--     uncovered     potential, but no allocated account and no counting call in r12
--     weak          guideline calls due and coverage_ratio < territories.weak_coverage_ratio
--     saturated     share_of_wallet >= territories.saturated_share_of_wallet and opportunity
--                   per account below the median zone: one more partner adds little
--     covered       otherwise
--   is_white_space = uncovered or weak
{%- set t = var('territories', {}) %}
{%- set level = t.get('zone_level', 'postcode') %}
{%- set roles = t.get('rep_roles', ['field_rep', 'key_account_manager']) %}
{%- set role_list = "'" ~ roles | join("', '") ~ "'" %}
{%- set weak = t.get('weak_coverage_ratio', 0.5) %}
{%- set saturated = t.get('saturated_share_of_wallet', 0.3) %}
{%- set zone = {
    'postcode': 'acc.postcode',
    'city': "acc.department_code || ' ' || upper(acc.city)",
    'department_code': 'acc.department_code',
    'account': 'acc.account_id',
    'zone': 'zones.zone_id',
}[level] %}
with

zone_accounts as (

    select
        {{ zone }} as zone_id,
        acc.account_id,
        acc.owner_rep_id,
        acc.owner_rep_role in ({{ role_list }}) as is_allocated,
        card.potential_eur,
        card.revenue_r12,
        card.opportunity_eur,
        case
            when cov.is_remote_class then 0 else coalesce(cov.calls_per_year, 0)
        end as calls_per_year,
        coalesce(cov.guideline_calls_r12, 0) as guideline_calls_r12
    from {{ ref('account_coverage') }} as cov
    inner join {{ ref('dim_accounts') }} as acc on cov.account_id = acc.account_id
    left join {{ ref('account_scorecard') }} as card on cov.account_id = card.account_id
    left join {{ ref('int_accounts__zones') }} as zones on cov.account_id = zones.account_id
    where {{ zone }} is not null

),

zones as (

    select
        zone_id,
        count(*) as active_accounts,
        count(*) filter (where is_allocated) as allocated_accounts,
        count(distinct owner_rep_id) filter (where is_allocated) as reps,
        sum(potential_eur) as potential_eur,
        coalesce(sum(revenue_r12), 0) as revenue_r12,
        coalesce(sum(opportunity_eur), 0) as opportunity_eur,
        sum(calls_per_year) as guideline_calls_per_year,
        sum(guideline_calls_r12) as guideline_calls_r12
    from zone_accounts
    group by zone_id

),

figures as (

    select
        *,
        revenue_r12 / nullif(potential_eur, 0) as share_of_wallet,
        guideline_calls_r12 / nullif(guideline_calls_per_year, 0) as coverage_ratio,
        opportunity_eur / active_accounts as opportunity_per_account,
        median(opportunity_eur / active_accounts) over () as median_opportunity_per_account
    from zones

)

select
    '{{ level }}' as zone_level,
    zone_id,
    active_accounts::integer as active_accounts,
    allocated_accounts::integer as allocated_accounts,
    reps::integer as reps,
    potential_eur,
    revenue_r12,
    opportunity_eur,
    share_of_wallet,
    guideline_calls_per_year::double as guideline_calls_per_year,
    guideline_calls_r12::double as guideline_calls_r12,
    coverage_ratio,
    opportunity_per_account,
    case
        when coalesce(potential_eur, 0) <= 0 then 'no_potential'
        when allocated_accounts = 0 and guideline_calls_r12 = 0 then 'uncovered'
        when guideline_calls_per_year > 0 and coverage_ratio < {{ weak }} then 'weak'
        when share_of_wallet >= {{ saturated }}
            and opportunity_per_account < median_opportunity_per_account then 'saturated'
        else 'covered'
    end as zone_status,
    zone_status in ('uncovered', 'weak') as is_white_space
from figures
order by is_white_space desc, potential_eur desc nulls last, zone_id asc
