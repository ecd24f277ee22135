-- Grain: one row per active CRM account (account_id), over the r12 window (var as_of_month).
-- Calls come from int_rtm__calls_by_account; the guideline from the account's priority class
-- (account_priorities.priority_class -> var scoring.classes[].calls_per_year / guideline).
-- Only calls of resource types with rtm.resources[type].counts_for_guideline count towards
-- the guideline (guideline_calls_r12); the others (distributor reps) are shown, not counted.
--   coverage_ratio   = guideline_calls_r12 / calls_per_year (null when the guideline is 0)
--   coverage_status, first rule that applies:
--     never_called  guideline > 0 and no call that counts in r12
--     over_served   guideline > 0 and ratio > rtm.coverage.on_plan_max_ratio, or guideline 0
--                   and more than rtm.coverage.zero_guideline_max_calls calls
--     under_served  guideline > 0 and ratio < rtm.coverage.on_plan_min_ratio
--     overlap       otherwise (on plan by the numbers) when is_overlap
--     on_plan       otherwise (both ratio bounds inclusive; a guideline-0 account with at
--                   most zero_guideline_max_calls calls, none included)
--   is_overlap       = at least rtm.coverage.overlap_min_people distinct people, or more than
--                      one resource type, among the calls that count (reported on every row,
--                      whatever the status)
--   calls_needed     = max(0, calls_per_year - guideline_calls_r12)
--   calls_in_excess  = max(0, guideline_calls_r12 - calls_per_year)
{%- set coverage = var('rtm').coverage %}
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}
    where is_active

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

priorities as (

    select
        account_id,
        priority_class
    from {{ ref('account_priorities') }}

),

calls as (

    select * from {{ ref('int_rtm__calls_by_account') }}

),

joined as (

    select
        accounts.account_id,
        periods.as_of_month,
        periods.as_of_month_end,
        accounts.territory_id,
        accounts.owner_rep_id,
        priorities.priority_class,
        {{ rtm_class_calls_per_year('priorities.priority_class') }} as calls_per_year,
        {{ rtm_class_guideline('priorities.priority_class') }} as call_guideline,
        coalesce(calls.calls_r12, 0) as calls_r12,
        coalesce(calls.key_account_manager_calls_r12, 0) as key_account_manager_calls_r12,
        coalesce(calls.field_rep_calls_r12, 0) as field_rep_calls_r12,
        coalesce(calls.telesales_calls_r12, 0) as telesales_calls_r12,
        coalesce(calls.distributor_rep_calls_r12, 0) as distributor_rep_calls_r12,
        coalesce(calls.visits_r12, 0) as visits_r12,
        coalesce(calls.guideline_calls_r12, 0) as guideline_calls_r12,
        coalesce(calls.people_calling_r12, 0) as people_calling_r12,
        coalesce(calls.guideline_people_r12, 0) as guideline_people_r12,
        coalesce(calls.guideline_resource_types_r12, 0) as guideline_resource_types_r12,
        calls.last_call_date,
        calls.last_guideline_call_date,
        coalesce(calls.call_hours_r12, 0) as call_hours_r12
    from accounts
    cross join periods
    left join priorities on accounts.account_id = priorities.account_id
    left join calls on accounts.account_id = calls.account_id

),

rated as (

    select
        *,
        case
            when calls_per_year > 0 then 1.0 * guideline_calls_r12 / calls_per_year
        end as coverage_ratio,
        (
            guideline_people_r12 >= {{ coverage.overlap_min_people }}
            or guideline_resource_types_r12 > 1
        ) as is_overlap
    from joined

),

classified as (

    select
        *,
        case
            when calls_per_year is null then 'no_guideline'
            when calls_per_year > 0 and guideline_calls_r12 = 0 then 'never_called'
            when calls_per_year = 0 and guideline_calls_r12 > {{ coverage.zero_guideline_max_calls }}
                then 'over_served'
            when coverage_ratio > {{ coverage.on_plan_max_ratio }} then 'over_served'
            when coverage_ratio < {{ coverage.on_plan_min_ratio }} then 'under_served'
            when is_overlap then 'overlap'
            else 'on_plan'
        end as coverage_status
    from rated

),

final as (

    select
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(as_of_month as {{ dbt.type_string() }}) as as_of_month,
        cast(territory_id as {{ dbt.type_string() }}) as territory_id,
        cast(owner_rep_id as {{ dbt.type_string() }}) as owner_rep_id,
        cast(priority_class as {{ dbt.type_string() }}) as priority_class,
        cast(calls_per_year as {{ dbt.type_bigint() }}) as calls_per_year,
        cast(call_guideline as {{ dbt.type_string() }}) as call_guideline,
        cast({{ rtm_is_remote_class('priority_class') }} as {{ dbt.type_boolean() }})
            as is_remote_class,
        cast(calls_r12 as {{ dbt.type_bigint() }}) as calls_r12,
        cast(key_account_manager_calls_r12 as {{ dbt.type_bigint() }})
            as key_account_manager_calls_r12,
        cast(field_rep_calls_r12 as {{ dbt.type_bigint() }}) as field_rep_calls_r12,
        cast(telesales_calls_r12 as {{ dbt.type_bigint() }}) as telesales_calls_r12,
        cast(distributor_rep_calls_r12 as {{ dbt.type_bigint() }}) as distributor_rep_calls_r12,
        cast(visits_r12 as {{ dbt.type_bigint() }}) as visits_r12,
        cast(guideline_calls_r12 as {{ dbt.type_bigint() }}) as guideline_calls_r12,
        cast(people_calling_r12 as {{ dbt.type_bigint() }}) as people_calling_r12,
        cast(guideline_people_r12 as {{ dbt.type_bigint() }}) as guideline_people_r12,
        cast(guideline_resource_types_r12 as {{ dbt.type_bigint() }})
            as guideline_resource_types_r12,
        cast(last_call_date as date) as last_call_date,
        cast(last_guideline_call_date as date) as last_guideline_call_date,
        cast(
            {{ dbt.datediff('last_call_date', 'as_of_month_end', 'day') }}
            as {{ dbt.type_bigint() }}
        ) as days_since_last_call,
        cast(round(call_hours_r12, 2) as {{ type_double() }}) as call_hours_r12,
        cast(round(coverage_ratio, 4) as {{ type_double() }}) as coverage_ratio,
        cast(coverage_status as {{ dbt.type_string() }}) as coverage_status,
        cast(is_overlap as {{ dbt.type_boolean() }}) as is_overlap,
        cast(case
            when calls_per_year > guideline_calls_r12 then calls_per_year - guideline_calls_r12
            else 0
        end as {{ dbt.type_bigint() }}) as calls_needed,
        cast(case
            when guideline_calls_r12 > coalesce(calls_per_year, guideline_calls_r12)
                then guideline_calls_r12 - calls_per_year
            else 0
        end as {{ dbt.type_bigint() }}) as calls_in_excess
    from classified

)

select * from final
