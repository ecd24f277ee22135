-- Grain: one row per call (call_id) made in the r12 window (int_reporting__periods), on any
-- account, costed by its resource type (var rtm.resources):
--   travel_minutes = rtm.resources[type].travel_minutes_per_visit for a visit, else 0
--   call_hours     = (duration_minutes + travel_minutes) / 60
--   call_cost_eur  = call_hours x rtm.resources[type].hourly_cost_eur
-- counts_for_guideline = rtm.resources[type].counts_for_guideline (distributor reps cover the
-- account but do not count towards the manufacturer's call guideline). A resource type the
-- config does not list costs nothing and does not count.
-- Rebuilt only when its inputs changed (macros/table_on_input_change.sql): the call log
-- and the reporting calendar change about once a month.
{{ config(materialized='table_on_input_change') }}
with

calls as (

    select * from {{ ref('stg_crm__calls') }}

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

in_period as (

    select calls.*
    from calls
    cross join periods
    where calls.call_date between periods.r12_start and periods.r12_end

),

costed as (

    select
        call_id,
        account_id,
        caller_id,
        resource_type,
        contact_mode,
        is_visit,
        {{ rtm_resource_value('resource_type', 'counts_for_guideline', 'false') }}
            as counts_for_guideline,
        coalesce(duration_minutes, 0) as duration_minutes,
        case
            when is_visit
                then {{ rtm_resource_value('resource_type', 'travel_minutes_per_visit', '0') }}
            else 0
        end as travel_minutes,
        {{ rtm_resource_value('resource_type', 'hourly_cost_eur', '0') }} as hourly_cost_eur,
        call_date
    from in_period

),

final as (

    select
        call_id,
        account_id,
        caller_id,
        resource_type,
        contact_mode,
        is_visit,
        counts_for_guideline,
        duration_minutes,
        travel_minutes,
        (duration_minutes + travel_minutes) / 60.0 as call_hours,
        hourly_cost_eur,
        (duration_minutes + travel_minutes) / 60.0 * hourly_cost_eur as call_cost_eur,
        call_date
    from costed

)

select * from final
