{#- Schema from var scoring_schema (default marts): `rtm whatif` builds into another one. -#}
{{ config(schema=var('scoring_schema', 'marts')) }}
-- Grain: one row per segment (channel x tier) for as_of_month: how many accounts, how much
-- volume, potential and opportunity, and how the priority classes and plans spread.
with

segments as (

    select * from {{ ref('account_segments') }}

),

priorities as (

    select * from {{ ref('account_priorities') }}

),

scorecard as (

    select * from {{ ref('account_scorecard') }}

),

joined as (

    select
        segments.segment,
        segments.channel,
        segments.tier,
        segments.plan,
        segments.as_of_month,
        segments.revenue_r12,
        segments.opportunity_eur,
        scorecard.potential_eur,
        priorities.priority_class
    from segments
    inner join priorities on segments.account_id = priorities.account_id
    inner join scorecard on segments.account_id = scorecard.account_id

),

summed as (

    select
        segment,
        channel,
        tier,
        max(as_of_month) as as_of_month,
        count(*) as accounts_count,
        sum(case when revenue_r12 > 0 then 1 else 0 end) as buying_accounts_count,
        sum(revenue_r12) as revenue_r12,
        sum(potential_eur) as potential_eur,
        sum(opportunity_eur) as opportunity_eur,
        sum(case when priority_class = 'A' then 1 else 0 end) as class_a_count,
        sum(case when priority_class = 'B' then 1 else 0 end) as class_b_count,
        sum(case when priority_class = 'C' then 1 else 0 end) as class_c_count,
        sum(case when priority_class = 'D' then 1 else 0 end) as class_d_count,
        sum(case when plan = 'development' then 1 else 0 end) as plan_development_count,
        sum(case when plan = 'prospection' then 1 else 0 end) as plan_prospection_count,
        sum(case when plan = 'support' then 1 else 0 end) as plan_support_count,
        sum(case when plan = 'retention' then 1 else 0 end) as plan_retention_count
    from joined
    group by segment, channel, tier

),

final as (

    select
        cast(segment as {{ dbt.type_string() }}) as segment,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(tier as {{ dbt.type_string() }}) as tier,
        cast(as_of_month as {{ dbt.type_string() }}) as as_of_month,
        cast(accounts_count as {{ dbt.type_bigint() }}) as accounts_count,
        cast(buying_accounts_count as {{ dbt.type_bigint() }}) as buying_accounts_count,
        cast(round(1.0 * accounts_count / sum(accounts_count) over (), 6) as {{ type_double() }})
            as share_of_accounts,
        cast(round(revenue_r12, 2) as {{ type_double() }}) as revenue_r12,
        cast(round(case
            when sum(revenue_r12) over () > 0 then revenue_r12 / sum(revenue_r12) over ()
        end, 6) as {{ type_double() }}) as share_of_revenue,
        cast(round(potential_eur, 2) as {{ type_double() }}) as potential_eur,
        cast(round(opportunity_eur, 2) as {{ type_double() }}) as opportunity_eur,
        cast(
            round(case when potential_eur > 0 then revenue_r12 / potential_eur end, 6)
            as {{ type_double() }}
        ) as share_of_wallet,
        cast(class_a_count as {{ dbt.type_bigint() }}) as class_a_count,
        cast(class_b_count as {{ dbt.type_bigint() }}) as class_b_count,
        cast(class_c_count as {{ dbt.type_bigint() }}) as class_c_count,
        cast(class_d_count as {{ dbt.type_bigint() }}) as class_d_count,
        cast(plan_development_count as {{ dbt.type_bigint() }}) as plan_development_count,
        cast(plan_prospection_count as {{ dbt.type_bigint() }}) as plan_prospection_count,
        cast(plan_support_count as {{ dbt.type_bigint() }}) as plan_support_count,
        cast(plan_retention_count as {{ dbt.type_bigint() }}) as plan_retention_count
    from summed

)

select * from final
