-- Grain: one row per territory (territory_id): the calls the segment guidelines require of
-- the territory's reps vs what those reps can make, and the headcount that implies.
--   guideline_calls_per_year, workload_hours (calls x (call + travel time)), capacity_hours
--   (weekly capacity x working weeks): sums over the reps of the territory (territory_balance)
--   hours_per_rep         = capacity_hours / reps
--   headcount_implied     = workload_hours / hours_per_rep (reps needed at today's capacity)
--   headcount_gap         = headcount_implied - reps (> 0: short of reps; < 0: spare)
with

balance as (

    select * from {{ ref('territory_balance') }}

),

by_territory as (

    select
        territory_id,
        count(*) as reps,
        sum(active_accounts) as active_accounts,
        sum(guideline_calls_per_year) as guideline_calls_per_year,
        sum(workload_hours) as workload_hours,
        sum(capacity_hours) as capacity_hours
    from balance
    group by territory_id

),

final as (

    select
        cast(territory_id as {{ dbt.type_string() }}) as territory_id,
        cast(reps as {{ dbt.type_bigint() }}) as reps,
        cast(active_accounts as {{ dbt.type_bigint() }}) as active_accounts,
        cast(guideline_calls_per_year as {{ type_double() }}) as guideline_calls_per_year,
        cast(round(workload_hours, 1) as {{ type_double() }}) as workload_hours,
        cast(round(capacity_hours, 1) as {{ type_double() }}) as capacity_hours,
        cast(
            round(workload_hours / nullif(capacity_hours, 0), 4) as {{ type_double() }}
        ) as capacity_used_share,
        cast(
            round(capacity_hours / nullif(reps, 0), 1) as {{ type_double() }}
        ) as hours_per_rep,
        cast(
            round(workload_hours / nullif(capacity_hours / nullif(reps, 0), 0), 2)
            as {{ type_double() }}
        ) as headcount_implied,
        cast(
            round(workload_hours / nullif(capacity_hours / nullif(reps, 0), 0) - reps, 2)
            as {{ type_double() }}
        ) as headcount_gap
    from by_territory

)

select * from final
