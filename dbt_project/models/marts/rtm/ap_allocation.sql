-- Grain: one row per plan (account_segments.plan; every plan of
-- rtm.ap_allocation.target_share_by_plan and every plan with accounts or spend), as_of_month:
-- A&P spend over r12 (all spend types of ap_spend, on active accounts, by the account's plan
-- today) vs the share the segment guidelines imply.
with

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

spend as (

    select
        account_id,
        spend_month,
        amount
    from {{ ref('stg_marketing__ap_spend') }}

),

segments as (

    select
        account_id,
        plan
    from {{ ref('account_segments') }}

),

targets as (

    {{ rows_from_mapping(
        var('rtm')['ap_allocation']['target_share_by_plan'],
        'plan',
        [('target_share', type_double(), none)]) }}

),

plans as (

    select plan from targets
    union
    select plan from segments

),

accounts_by_plan as (

    select
        plan,
        count(*) as accounts_count
    from segments
    group by plan

),

spend_r12 as (

    select
        segments.plan,
        spend.account_id,
        spend.amount
    from spend
    inner join segments on spend.account_id = segments.account_id
    cross join periods
    where spend.spend_month >= periods.r12_start and spend.spend_month <= periods.r12_end

),

spend_by_plan as (

    select
        plan,
        sum(amount) as spend_r12_eur,
        count(distinct account_id) as accounts_with_spend_r12
    from spend_r12
    group by plan

),

joined as (

    select
        plans.plan,
        periods.as_of_month,
        coalesce(spend_by_plan.spend_r12_eur, 0) as spend_r12_eur,
        coalesce(targets.target_share, 0) as target_share,
        coalesce(accounts_by_plan.accounts_count, 0) as accounts_count,
        coalesce(spend_by_plan.accounts_with_spend_r12, 0) as accounts_with_spend_r12,
        sum(coalesce(spend_by_plan.spend_r12_eur, 0)) over () as total_spend_r12_eur
    from plans
    cross join periods
    left join targets on plans.plan = targets.plan
    left join accounts_by_plan on plans.plan = accounts_by_plan.plan
    left join spend_by_plan on plans.plan = spend_by_plan.plan

),

final as (

    select
        plan,
        as_of_month,
        cast(spend_r12_eur as {{ type_double() }}) as spend_r12_eur,
        coalesce({{ safe_divide('spend_r12_eur', 'total_spend_r12_eur') }}, 0) as share_of_spend,
        target_share,
        target_share * total_spend_r12_eur as target_spend_r12_eur,
        target_share * total_spend_r12_eur - spend_r12_eur as gap_eur,
        cast(accounts_count as {{ dbt.type_bigint() }}) as accounts_count,
        cast(accounts_with_spend_r12 as {{ dbt.type_bigint() }}) as accounts_with_spend_r12,
        {{ safe_divide('spend_r12_eur', 'accounts_count') }} as spend_per_account_eur
    from joined

)

select * from final
