-- Grain: one row per rep of territory_balance (field reps and key account managers). How
-- today's territories load each rep against the average rep, in business terms.
with

balance as (

    select * from {{ ref('territory_balance') }}

),

final as (

    select
        rep_id,
        rep_name,
        rep_role,
        territory_id,
        active_accounts,
        workload_hours,
        capacity_hours,
        capacity_used_share,
        balance_index,
        workload_deviation as workload_vs_average,
        is_within_tolerance as is_balanced,
        revenue_r12 as revenue_last_12_months_eur,
        opportunity_eur,
        potential_eur as category_potential_eur,
        travel_km as travel_km_per_year,
        exceptions_count as accounts_outside_territory
    from balance

)

select * from final
