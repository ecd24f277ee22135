-- Grain: one row per distributor of distributor_scorecard. The reporting challenge over the
-- last 12 reported months (the latest period_month and the 11 before): points earned and
-- possible, and what cost the distributor points.
with

scorecard as (

    select * from {{ ref('distributor_scorecard') }}

),

latest as (

    select max(period_month) as last_month from scorecard

),

window_months as (

    select scorecard.* from scorecard
    cross join latest
    where scorecard.period_month > latest.last_month - interval 12 month

),

final as (

    select
        distributor_id,
        min(period_month) as first_month,
        max(period_month) as last_month,
        cast(sum(total_points) as integer) as points,
        cast(sum(max_points) as integer) as possible_points,
        sum(total_points) / nullif(sum(max_points), 0) as points_share,
        cast(count(*) filter (where not is_received) as integer) as missing_reports,
        cast(count(*) filter (where is_late) as integer) as late_reports,
        max(days_late) as worst_delay_days,
        avg(quarantine_share) as average_quarantine_share,
        avg(linked_share) as average_linked_share,
        cast(count(*) filter (where is_declared_match = false) as integer) as declaration_mismatches,
        cast(count(*) filter (where not is_consistent) as integer) as inconsistent_months,
        sum(sell_out_amount_eur) as sell_out_eur,
        max(as_of_month) as as_of_month
    from window_months
    group by distributor_id

)

select * from final
