{#- Schema from var scoring_schema (default marts): `rtm whatif` builds into another one. -#}
{{ config(schema=var('scoring_schema', 'marts')) }}
-- Grain: one row per percentile of accounts (1..100) for as_of_month: accounts sorted by
-- revenue_r12 (desc, then account_id); the top accounts_pct % of accounts make
-- cumulative_revenue_share of the company's revenue (the Pareto curve behind the tiers).
with

segments as (

    select * from {{ ref('account_segments') }}

),

ranked as (

    select
        as_of_month,
        revenue_r12,
        tier,
        row_number() over (order by revenue_r12 desc, account_id asc) as account_position,
        count(*) over () as accounts_total,
        sum(greatest(revenue_r12, 0)) over () as revenue_total,
        sum(greatest(revenue_r12, 0)) over (
            order by revenue_r12 desc, account_id asc rows between unbounded preceding and current row
        ) as revenue_running
    from segments

),

bucketed as (

    select
        *,
        cast(ceiling(100.0 * account_position / accounts_total) as {{ dbt.type_bigint() }}) as accounts_pct
    from ranked

),

curve as (

    select
        accounts_pct,
        max(as_of_month) as as_of_month,
        max(account_position) as accounts_count,
        max(revenue_running) as revenue_running,
        max(revenue_total) as revenue_total,
        max(case when tier = '{{ var("scoring").tiers[0].name }}' then 1 else 0 end)
            as has_top_tier
    from bucketed
    group by accounts_pct

),

final as (

    select
        cast(accounts_pct as {{ dbt.type_bigint() }}) as accounts_pct,
        cast(as_of_month as {{ dbt.type_string() }}) as as_of_month,
        cast(accounts_count as {{ dbt.type_bigint() }}) as accounts_count,
        cast(round(revenue_running, 2) as {{ type_double() }}) as cumulative_revenue_r12,
        cast(
            round(case when revenue_total > 0 then revenue_running / revenue_total end, 6)
            as {{ type_double() }}
        ) as cumulative_revenue_share,
        cast(has_top_tier = 1 as {{ dbt.type_boolean() }}) as includes_top_tier
    from curve

)

select * from final
