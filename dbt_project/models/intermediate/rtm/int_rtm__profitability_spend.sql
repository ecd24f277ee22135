-- Grain: one row per account (account_id) with A&P spend in the r12 window
-- (stg_marketing__ap_spend, spend_date in r12; amounts are EUR, the only currency the
-- ap_spend contract allows). Spend types listed in var
-- rtm.profitability.incentive_spend_types are incentives; every other type is A&P.
{%- set incentive_types = var('rtm').profitability.incentive_spend_types %}
with

spend as (

    select * from {{ ref('stg_marketing__ap_spend') }}

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

classified as (

    select
        spend.account_id,
        spend.amount,
        {{ rtm_in_list('spend.spend_type', incentive_types) }} as is_incentive
    from spend
    cross join periods
    where spend.spend_date between periods.r12_start and periods.r12_end

),

aggregated as (

    select
        account_id,
        sum(case when is_incentive then 0 else amount end) as ap_spend_eur,
        sum(case when is_incentive then amount else 0 end) as incentive_spend_eur,
        sum(case when is_incentive then 0 else 1 end) as ap_spend_lines,
        sum(case when is_incentive then 1 else 0 end) as incentive_lines
    from classified
    group by account_id

)

select * from aggregated
