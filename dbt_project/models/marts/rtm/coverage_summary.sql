-- Grain: one row per (summary_level, summary_key) for the r12 window (var as_of_month):
-- summary_level 'rep' (summary_key = rep_id: every rep of the roster and every owner rep of an
-- active account) and 'territory' (summary_key = territory_id: every territory of the design
-- and every territory of an active account).
--   accounts_allocated    active accounts owned by the rep (CRM owner_rep_id) / in the
--                         territory (CRM territory_id)
--   accounts_visited_r12  of those, accounts with at least one call that counts for the
--                         guideline in r12 (any contact mode; account_coverage)
--   coverage_pct          accounts_visited_r12 / accounts_allocated
--   calls_r12, call_hours_r12 (hours include travel for visits):
--       rep       calls the rep made in r12, on any account
--       territory calls on the territory's active accounts by resource types that count for
--                 the guideline (whoever made them)
--   calls_on_class_a_r12 / calls_on_class_d_r12: those calls on accounts of class A / D;
--   remote_class_time_share = call hours on accounts whose class is in
--   rtm.coverage.remote_classes (guideline: telesales or mail) / call_hours_r12
--   capacity_hours_r12 = weekly_capacity_hours x rtm.yaml coverage.working_weeks_per_year
--   of the rep / of the territory's reps; staff_hours_r12 = hours of the calls those reps made;
--   capacity_used_share = staff_hours_r12 / capacity_hours_r12.
{%- set working_weeks = var('rtm').coverage.working_weeks_per_year %}
with

coverage as (

    select * from {{ ref('account_coverage') }}

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

calls as (

    select * from {{ ref('int_rtm__calls_costed') }}

),

reps as (

    select * from {{ ref('stg_sales_force__reps') }}

),

territories as (

    select * from {{ ref('stg_sales_force__territories') }}

),

calls_classed as (

    select
        calls.caller_id,
        calls.counts_for_guideline,
        calls.call_hours,
        coverage.account_id as active_account_id,
        coverage.territory_id,
        coverage.priority_class,
        coverage.is_remote_class
    from calls
    left join coverage on calls.account_id = coverage.account_id

),

-- Calls, by the level's key: reps by caller, territories by the called account's territory.
level_calls as (

    select
        'rep' as summary_level,
        caller_id as summary_key,
        call_hours,
        priority_class,
        is_remote_class
    from calls_classed

    union all

    select
        'territory' as summary_level,
        territory_id as summary_key,
        call_hours,
        priority_class,
        is_remote_class
    from calls_classed
    where active_account_id is not null and counts_for_guideline

),

calls_by_key as (

    select
        summary_level,
        summary_key,
        count(*) as calls_r12,
        sum(call_hours) as call_hours_r12,
        sum(case when priority_class = 'A' then 1 else 0 end) as calls_on_class_a_r12,
        sum(case when priority_class = 'D' then 1 else 0 end) as calls_on_class_d_r12,
        sum(case when is_remote_class then call_hours else 0 end) as remote_class_hours_r12
    from level_calls
    group by summary_level, summary_key

),

-- Accounts, by owner rep and by territory.
level_accounts as (

    select
        'rep' as summary_level,
        owner_rep_id as summary_key,
        coverage_status,
        is_overlap,
        guideline_calls_r12
    from coverage
    where owner_rep_id is not null

    union all

    select
        'territory' as summary_level,
        territory_id as summary_key,
        coverage_status,
        is_overlap,
        guideline_calls_r12
    from coverage
    where territory_id is not null

),

accounts_by_key as (

    select
        summary_level,
        summary_key,
        count(*) as accounts_allocated,
        sum(case when guideline_calls_r12 > 0 then 1 else 0 end) as accounts_visited_r12,
        sum(case when coverage_status = 'on_plan' then 1 else 0 end) as on_plan_accounts,
        sum(case when coverage_status = 'under_served' then 1 else 0 end) as under_served_accounts,
        sum(case when coverage_status = 'over_served' then 1 else 0 end) as over_served_accounts,
        sum(case when coverage_status = 'never_called' then 1 else 0 end) as never_called_accounts,
        sum(case when is_overlap then 1 else 0 end) as overlap_accounts
    from level_accounts
    group by summary_level, summary_key

),

-- Staff capacity and the hours its calls used: the rep, or the territory's reps.
staff_hours as (

    select
        caller_id as rep_id,
        sum(call_hours) as staff_hours_r12
    from calls
    group by caller_id

),

level_staff as (

    select
        'rep' as summary_level,
        reps.rep_id as summary_key,
        reps.weekly_capacity_hours,
        staff_hours.staff_hours_r12
    from reps
    left join staff_hours on reps.rep_id = staff_hours.rep_id

    union all

    select
        'territory' as summary_level,
        reps.territory_id as summary_key,
        reps.weekly_capacity_hours,
        staff_hours.staff_hours_r12
    from reps
    left join staff_hours on reps.rep_id = staff_hours.rep_id
    where reps.territory_id is not null

),

staff_by_key as (

    select
        summary_level,
        summary_key,
        count(*) as reps_count,
        sum(weekly_capacity_hours) as weekly_capacity_hours,
        sum(coalesce(staff_hours_r12, 0)) as staff_hours_r12
    from level_staff
    group by summary_level, summary_key

),

keys as (

    select
        'rep' as summary_level,
        rep_id as summary_key
    from reps

    union

    select
        'territory' as summary_level,
        territory_id as summary_key
    from territories

    union

    select
        summary_level,
        summary_key
    from accounts_by_key

),

joined as (

    select
        keys.summary_level,
        keys.summary_key,
        periods.as_of_month,
        case
            when keys.summary_level = 'rep' then reps.rep_name
            else territories.territory_name
        end as summary_name,
        reps.rep_role,
        case
            when keys.summary_level = 'rep' then reps.territory_id
            else keys.summary_key
        end as territory_id,
        coalesce(accounts_by_key.accounts_allocated, 0) as accounts_allocated,
        coalesce(accounts_by_key.accounts_visited_r12, 0) as accounts_visited_r12,
        coalesce(accounts_by_key.on_plan_accounts, 0) as on_plan_accounts,
        coalesce(accounts_by_key.under_served_accounts, 0) as under_served_accounts,
        coalesce(accounts_by_key.over_served_accounts, 0) as over_served_accounts,
        coalesce(accounts_by_key.never_called_accounts, 0) as never_called_accounts,
        coalesce(accounts_by_key.overlap_accounts, 0) as overlap_accounts,
        coalesce(calls_by_key.calls_r12, 0) as calls_r12,
        coalesce(calls_by_key.call_hours_r12, 0) as call_hours_r12,
        coalesce(calls_by_key.calls_on_class_a_r12, 0) as calls_on_class_a_r12,
        coalesce(calls_by_key.calls_on_class_d_r12, 0) as calls_on_class_d_r12,
        coalesce(calls_by_key.remote_class_hours_r12, 0) as remote_class_hours_r12,
        coalesce(staff_by_key.reps_count, 0) as reps_count,
        staff_by_key.weekly_capacity_hours,
        staff_by_key.weekly_capacity_hours * {{ working_weeks }} as capacity_hours_r12,
        coalesce(staff_by_key.staff_hours_r12, 0) as staff_hours_r12
    from keys
    cross join periods
    left join reps on keys.summary_level = 'rep' and keys.summary_key = reps.rep_id
    left join territories
        on keys.summary_level = 'territory' and keys.summary_key = territories.territory_id
    left join accounts_by_key
        on
            keys.summary_level = accounts_by_key.summary_level
            and keys.summary_key = accounts_by_key.summary_key
    left join calls_by_key
        on
            keys.summary_level = calls_by_key.summary_level
            and keys.summary_key = calls_by_key.summary_key
    left join staff_by_key
        on
            keys.summary_level = staff_by_key.summary_level
            and keys.summary_key = staff_by_key.summary_key

),

final as (

    select
        cast(summary_level as {{ dbt.type_string() }}) as summary_level,
        cast(summary_key as {{ dbt.type_string() }}) as summary_key,
        cast(as_of_month as {{ dbt.type_string() }}) as as_of_month,
        cast(summary_name as {{ dbt.type_string() }}) as summary_name,
        cast(rep_role as {{ dbt.type_string() }}) as rep_role,
        cast(territory_id as {{ dbt.type_string() }}) as territory_id,
        cast(accounts_allocated as {{ dbt.type_bigint() }}) as accounts_allocated,
        cast(accounts_visited_r12 as {{ dbt.type_bigint() }}) as accounts_visited_r12,
        cast(case
            when accounts_allocated > 0
                then round(1.0 * accounts_visited_r12 / accounts_allocated, 4)
        end as {{ type_double() }}) as coverage_pct,
        cast(on_plan_accounts as {{ dbt.type_bigint() }}) as on_plan_accounts,
        cast(under_served_accounts as {{ dbt.type_bigint() }}) as under_served_accounts,
        cast(over_served_accounts as {{ dbt.type_bigint() }}) as over_served_accounts,
        cast(never_called_accounts as {{ dbt.type_bigint() }}) as never_called_accounts,
        cast(overlap_accounts as {{ dbt.type_bigint() }}) as overlap_accounts,
        cast(calls_r12 as {{ dbt.type_bigint() }}) as calls_r12,
        cast(round(call_hours_r12, 2) as {{ type_double() }}) as call_hours_r12,
        cast(calls_on_class_a_r12 as {{ dbt.type_bigint() }}) as calls_on_class_a_r12,
        cast(calls_on_class_d_r12 as {{ dbt.type_bigint() }}) as calls_on_class_d_r12,
        cast(round(remote_class_hours_r12, 2) as {{ type_double() }}) as remote_class_hours_r12,
        cast(case
            when call_hours_r12 > 0 then round(remote_class_hours_r12 / call_hours_r12, 4)
        end as {{ type_double() }}) as remote_class_time_share,
        cast(reps_count as {{ dbt.type_bigint() }}) as reps_count,
        cast(weekly_capacity_hours as {{ type_double() }}) as weekly_capacity_hours,
        cast(capacity_hours_r12 as {{ type_double() }}) as capacity_hours_r12,
        cast(round(staff_hours_r12, 2) as {{ type_double() }}) as staff_hours_r12,
        cast(case
            when capacity_hours_r12 > 0 then round(staff_hours_r12 / capacity_hours_r12, 4)
        end as {{ type_double() }}) as capacity_used_share
    from joined

)

select * from final
