-- Grain: one row per active account whose priority class asks for visits (calls_per_year
-- > 0; the classes "phone or mail only" are left out): the visit list of the quarter, with
-- why each account matters and how well it was covered over the last 12 months.
--   visits_due_this_quarter = calls_per_year / 4, rounded up
with

priorities as (

    select * from {{ ref('account_priorities') }}
    where calls_per_year > 0

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

coverage as (

    select * from {{ ref('account_coverage') }}

),

scorecard as (

    select * from {{ ref('account_scorecard') }}

),

final as (

    select
        priorities.account_id,
        accounts.account_name,
        accounts.address,
        accounts.postcode,
        accounts.city,
        priorities.territory_id,
        accounts.territory_name,
        accounts.owner_rep_id,
        priorities.priority_class,
        priorities.call_guideline,
        cast(ceil(priorities.calls_per_year / 4.0) as integer) as visits_due_this_quarter,
        coverage.guideline_calls_r12 as calls_last_12_months,
        coverage.last_guideline_call_date as last_call_date,
        coverage.coverage_status,
        coverage.calls_needed as calls_missing_last_12_months,
        priorities.rank_in_territory as priority_rank_in_territory,
        priorities.reason_1,
        priorities.reason_2,
        priorities.reason_3,
        scorecard.revenue_r12 as revenue_last_12_months_eur,
        scorecard.opportunity_eur,
        priorities.as_of_month
    from priorities
    inner join accounts on priorities.account_id = accounts.account_id
    left join coverage on priorities.account_id = coverage.account_id
    left join scorecard on priorities.account_id = scorecard.account_id

)

select * from final
