-- Grain: one row per active account (dim_accounts). The account in one row, for BI tools:
-- who and where it is, what it buys, its segment and plan, its priority and why.
-- A stable interface with business names: the marts it reads may gain or rename columns,
-- this view keeps its names (its contract is enforced).
with

accounts as (

    select * from {{ ref('dim_accounts') }}

),

scorecard as (

    select * from {{ ref('account_scorecard') }}

),

segments as (

    select * from {{ ref('account_segments') }}

),

priorities as (

    select * from {{ ref('account_priorities') }}

),

final as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.channel,
        accounts.size_band,
        accounts.address,
        accounts.postcode,
        accounts.city,
        accounts.department_code,
        accounts.latitude,
        accounts.longitude,
        accounts.territory_id,
        accounts.territory_name,
        accounts.region,
        accounts.owner_rep_id,
        accounts.is_direct as buys_direct,
        accounts.linked_distributors_count as distributors_count,
        accounts.has_online_presence,
        scorecard.revenue_r12 as revenue_last_12_months_eur,
        scorecard.revenue_p12 as revenue_previous_12_months_eur,
        scorecard.growth_pct,
        scorecard.months_with_purchases_r12 as months_with_purchases_last_12_months,
        scorecard.last_purchase_date,
        scorecard.potential_eur as category_potential_eur,
        scorecard.share_of_wallet,
        scorecard.target_share_of_wallet,
        scorecard.opportunity_eur,
        segments.tier,
        segments.segment,
        segments.partner_ranking,
        segments.supplier_status,
        segments.mode as relationship_mode,
        segments.plan,
        segments.contact_model,
        segments.treatment,
        priorities.priority_score,
        priorities.priority_class,
        priorities.call_guideline,
        priorities.calls_per_year,
        priorities.rank_overall as priority_rank,
        priorities.rank_in_territory as priority_rank_in_territory,
        priorities.reason_1,
        priorities.reason_2,
        priorities.reason_3,
        coalesce(segments.is_overridden, false)
        or coalesce(priorities.is_overridden, false) as is_overridden,
        priorities.as_of_month
    from accounts
    left join scorecard on accounts.account_id = scorecard.account_id
    left join segments on accounts.account_id = segments.account_id
    left join priorities on accounts.account_id = priorities.account_id

)

select * from final
