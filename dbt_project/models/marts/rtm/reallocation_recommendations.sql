-- Grain: one row per recommendation (recommendation_id) for the r12 window (var as_of_month):
-- the moves a sales director would make, each with its effect in the units of its inputs
-- (calls a year, call hours a year, EUR a year). Rules from rtm.yaml `reallocation`:
--   hand_to_distributor / hand_to_telesales: an account of a class in handover_classes
--       that key account managers or field reps still call on: its KAM + field calls go;
--       to the distributor when it buys only through distributors (segment contact model
--       distributor_managed), else to telesales.
--   reduce_calls: an over-served account of a class in from_classes (not handed over):
--       its calls in excess of the guideline go.
--   add_calls: an under-served or never-called account of a class in to_classes receives
--       the hours its owner rep freed above, best priority rank first, up to its calls
--       needed: a rep never gets more hours than it gives up (within capacity).
--   move_ap_budget: A&P money from plans spending above their target share (ap_allocation)
--       to plans below it, pro rata to their gaps.
{%- set cfg = var('rtm').reallocation %}
{%- set handover_classes = cfg.handover_classes or ['__none__'] %}
with

coverage as (

    select * from {{ ref('account_coverage') }}

),

priorities as (

    select
        account_id,
        rank_overall
    from {{ ref('account_priorities') }}

),

segments as (

    select
        account_id,
        contact_model
    from {{ ref('account_segments') }}

),

profitability as (

    select
        account_id,
        call_cost_eur
    from {{ ref('account_profitability') }}

),

allocation as (

    select * from {{ ref('ap_allocation') }}

),

accounts as (

    select
        coverage.*,
        priorities.rank_overall,
        segments.contact_model,
        -- hours and EUR of one call of this account, from its own r12 calls
        case when coverage.calls_r12 > 0 then coverage.call_hours_r12 / coverage.calls_r12 end
            as hours_per_call,
        case
            when coverage.call_hours_r12 > 0
                then coalesce(profitability.call_cost_eur, 0) / coverage.call_hours_r12
            else 0
        end as cost_per_hour
    from coverage
    left join priorities on coverage.account_id = priorities.account_id
    left join segments on coverage.account_id = segments.account_id
    left join profitability on coverage.account_id = profitability.account_id

),

handovers as (

    select
        *,
        key_account_manager_calls_r12 + field_rep_calls_r12 as calls_moved,
        case
            when contact_model = 'distributor_managed' then 'hand_to_distributor'
            else 'hand_to_telesales'
        end as recommendation_type
    from accounts
    where priority_class in ('{{ handover_classes | join("', '") }}')
        and key_account_manager_calls_r12 + field_rep_calls_r12 > 0
        and owner_rep_id is not null

),

reductions as (

    select
        *,
        calls_in_excess as calls_moved,
        'reduce_calls' as recommendation_type
    from accounts
    where coverage_status = 'over_served'
        and priority_class in (
            '{{ cfg.from_classes | join("', '") }}'  -- noqa: LT05
        )
        and calls_in_excess > 0
        and owner_rep_id is not null
        and account_id not in (select handovers.account_id from handovers)  -- noqa: RF02

),

moves as (

    select * from handovers
    union all
    select * from reductions

),

givers as (

    select
        account_id,
        territory_id,
        owner_rep_id,
        priority_class,
        coverage_status,
        recommendation_type,
        calls_moved,
        hours_per_call,
        cost_per_hour,
        calls_moved * hours_per_call as hours_moved
    from moves

),

freed_by_rep as (

    select
        owner_rep_id,
        sum(hours_moved) as hours_freed
    from givers
    group by owner_rep_id

),

-- a rep's average hours per call that counts, for accounts it has not called yet
rep_call_hours as (

    select
        owner_rep_id,
        sum(call_hours_r12) / nullif(sum(calls_r12), 0) as hours_per_call
    from accounts
    group by owner_rep_id

),

receivers as (

    select
        accounts.account_id,
        accounts.territory_id,
        accounts.owner_rep_id,
        accounts.priority_class,
        accounts.coverage_status,
        accounts.calls_needed,
        accounts.rank_overall,
        coalesce(accounts.hours_per_call, rep_call_hours.hours_per_call) as hours_per_call,
        freed_by_rep.hours_freed
    from accounts
    inner join freed_by_rep on accounts.owner_rep_id = freed_by_rep.owner_rep_id
    left join rep_call_hours on accounts.owner_rep_id = rep_call_hours.owner_rep_id
    where accounts.coverage_status in ('under_served', 'never_called')
        and accounts.priority_class in (
            '{{ cfg.to_classes | join("', '") }}'  -- noqa: LT05
        )
        and accounts.calls_needed > 0

),

receivers_ranked as (

    select
        *,
        calls_needed * hours_per_call as hours_needed,
        sum(calls_needed * hours_per_call) over (
            partition by owner_rep_id
            order by rank_overall, account_id
            rows between unbounded preceding and current row
        ) as cumulative_hours_needed
    from receivers
    where hours_per_call > 0

),

granted as (

    select
        *,
        -- whole calls that fit in what is left of the rep's freed hours
        cast(floor(
            greatest(
                0,
                least(hours_needed, hours_freed - (cumulative_hours_needed - hours_needed))
            ) / hours_per_call
        ) as {{ dbt.type_bigint() }}) as calls_added
    from receivers_ranked

),

call_moves as (

    select
        recommendation_type || ':' || account_id as recommendation_id,
        recommendation_type,
        owner_rep_id as rep_id,
        territory_id,
        account_id,
        priority_class,
        coverage_status,
        cast(null as {{ dbt.type_string() }}) as from_plan,
        cast(null as {{ dbt.type_string() }}) as to_plan,
        -1 * calls_moved as calls_change,
        -1 * hours_moved as hours_change,
        -1 * hours_moved * cost_per_hour as cost_change_eur,
        cast(0 as {{ dbt.type_float() }}) as amount_eur,
        case recommendation_type
            when 'hand_to_distributor' then 'hand over to the distributor''s reps: '
            when 'hand_to_telesales' then 'hand over to telesales: '
            else 'cut the calls above the guideline: '
        end
        || cast(calls_moved as {{ dbt.type_string() }}) || ' calls ('
        || cast(round(hours_moved, 1) as {{ dbt.type_string() }}) || ' h, EUR '
        || cast(
            cast(round(hours_moved * cost_per_hour, 0) as {{ dbt.type_bigint() }}) as {{ dbt.type_string() }}
        )
        || ') a year freed for class {{ cfg.to_classes | join("/") }} accounts of '
        || owner_rep_id as expected_effect
    from givers

    union all

    select
        'add_calls:' || account_id as recommendation_id,
        'add_calls' as recommendation_type,
        owner_rep_id as rep_id,
        territory_id,
        account_id,
        priority_class,
        coverage_status,
        cast(null as {{ dbt.type_string() }}) as from_plan,
        cast(null as {{ dbt.type_string() }}) as to_plan,
        calls_added as calls_change,
        calls_added * hours_per_call as hours_change,
        cast(0 as {{ dbt.type_float() }}) as cost_change_eur,
        cast(0 as {{ dbt.type_float() }}) as amount_eur,
        'add ' || cast(calls_added as {{ dbt.type_string() }}) || ' of the '
        || cast(calls_needed as {{ dbt.type_string() }})
        || ' calls a year it lacks against its class ' || priority_class || ' guideline ('
        || cast(round(calls_added * hours_per_call, 1) as {{ dbt.type_string() }})
        || ' h of ' || owner_rep_id || '''s freed time)' as expected_effect
    from granted
    where calls_added > 0

),

-- ap_allocation.gap_eur = target spend - spend: negative above target, positive below
budget_over as (

    select
        plan,
        -1 * gap_eur as excess_eur
    from allocation
    where gap_eur < 0

),

budget_under as (

    select
        plan,
        gap_eur as shortfall_eur
    from allocation
    where gap_eur > 0

),

budget_moves as (

    select
        'move_ap_budget:' || budget_over.plan || '->' || budget_under.plan as recommendation_id,
        'move_ap_budget' as recommendation_type,
        cast(null as {{ dbt.type_string() }}) as rep_id,
        cast(null as {{ dbt.type_string() }}) as territory_id,
        cast(null as {{ dbt.type_string() }}) as account_id,
        cast(null as {{ dbt.type_string() }}) as priority_class,
        cast(null as {{ dbt.type_string() }}) as coverage_status,
        budget_over.plan as from_plan,
        budget_under.plan as to_plan,
        0 as calls_change,
        cast(0 as {{ dbt.type_float() }}) as hours_change,
        cast(0 as {{ dbt.type_float() }}) as cost_change_eur,
        budget_over.excess_eur * budget_under.shortfall_eur
        / sum(budget_under.shortfall_eur) over (partition by budget_over.plan) as amount_eur,
        'move EUR '
        || cast(cast(round(
            budget_over.excess_eur * budget_under.shortfall_eur
            / sum(budget_under.shortfall_eur) over (partition by budget_over.plan), 0
        ) as {{ dbt.type_bigint() }}) as {{ dbt.type_string() }})
        || ' of r12 A&P spend from ' || budget_over.plan || ' accounts to ' || budget_under.plan
        || ' accounts, towards the target mix of the segment guidelines' as expected_effect
    from budget_over
    cross join budget_under

),

unioned as (

    select * from call_moves
    union all
    select * from budget_moves

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

)

select
    cast(unioned.recommendation_id as {{ dbt.type_string() }}) as recommendation_id,
    cast(periods.as_of_month as {{ dbt.type_string() }}) as as_of_month,
    cast(unioned.recommendation_type as {{ dbt.type_string() }}) as recommendation_type,
    cast(unioned.rep_id as {{ dbt.type_string() }}) as rep_id,
    cast(unioned.territory_id as {{ dbt.type_string() }}) as territory_id,
    cast(unioned.account_id as {{ dbt.type_string() }}) as account_id,
    cast(unioned.priority_class as {{ dbt.type_string() }}) as priority_class,
    cast(unioned.coverage_status as {{ dbt.type_string() }}) as coverage_status,
    cast(unioned.from_plan as {{ dbt.type_string() }}) as from_plan,
    cast(unioned.to_plan as {{ dbt.type_string() }}) as to_plan,
    cast(unioned.calls_change as {{ dbt.type_bigint() }}) as calls_change,
    cast(round(unioned.hours_change, 2) as {{ dbt.type_float() }}) as hours_change,
    cast(round(unioned.cost_change_eur, 2) as {{ dbt.type_float() }}) as cost_change_eur,
    cast(round(unioned.amount_eur, 2) as {{ dbt.type_float() }}) as amount_eur,
    cast(unioned.expected_effect as {{ dbt.type_string() }}) as expected_effect
from unioned
cross join periods
