-- Grain: one row per account (account_id) with at least one call in the r12 window, any
-- resource type (int_rtm__calls_costed). Calls by resource type, distinct people calling,
-- last call, time and cost. "guideline_" measures keep only the calls of resource types that
-- count towards the call guideline (var rtm.resources[type].counts_for_guideline).
-- Rebuilt only when its inputs changed (macros/table_on_input_change.sql): the call log
-- and the reporting calendar change about once a month.
{{ config(materialized='table_on_input_change') }}
with

calls as (

    select * from {{ ref('int_rtm__calls_costed') }}

),

aggregated as (

    select
        account_id,
        count(*) as calls_r12,
        sum(case when resource_type = 'key_account_manager' then 1 else 0 end)
            as key_account_manager_calls_r12,
        sum(case when resource_type = 'field_rep' then 1 else 0 end) as field_rep_calls_r12,
        sum(case when resource_type = 'telesales' then 1 else 0 end) as telesales_calls_r12,
        sum(case when resource_type = 'distributor_rep' then 1 else 0 end)
            as distributor_rep_calls_r12,
        sum(case when is_visit then 1 else 0 end) as visits_r12,
        sum(case when counts_for_guideline then 1 else 0 end) as guideline_calls_r12,
        count(distinct caller_id) as people_calling_r12,
        count(distinct case when counts_for_guideline then caller_id end)
            as guideline_people_r12,
        count(distinct case when counts_for_guideline then resource_type end)
            as guideline_resource_types_r12,
        max(call_date) as last_call_date,
        max(case when counts_for_guideline then call_date end) as last_guideline_call_date,
        sum(call_hours) as call_hours_r12,
        sum(call_cost_eur) as call_cost_eur
    from calls
    group by account_id

)

select * from aggregated
