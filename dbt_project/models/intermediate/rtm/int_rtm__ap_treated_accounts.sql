-- Grain: one row per active account x A&P spend type it ever received (spend_type +
-- account_id): the account's difference-in-differences contribution to ap_returns.
-- Treatment month m and its window: int_rtm__ap_first_spends. Its change =
-- brand revenue in the post_months from m on - brand revenue in the pre_months before m
-- (pre scaled to the post window length: x post_months / pre_months). The matched control is
-- the mean of the same change, over the same calendar months, of the comparison accounts of
-- its channel x size band (int_rtm__ap_comparison_accounts: no A&P spend at all, bought in
-- the pre window). did_eur = treated change - comparison mean change (EUR over the post window).
-- window_status: included; excluded_window (m - pre_months before the first month with sales
-- data, or m + post_months - 1 after as_of_month: no full pre and post window);
-- excluded_no_pre_sales (no brand revenue in the pre window: not comparable with buyers);
-- excluded_unmatched (no comparison account in its channel x size band for that month).
{%- set ap = var('rtm')['ap_returns'] %}
{%- set pre_months = ap['pre_months'] | int %}
{%- set post_months = ap['post_months'] | int %}
with

windowed as (

    select * from {{ ref('int_rtm__ap_first_spends') }}

),

spend as (

    select
        account_id,
        spend_type,
        spend_month,
        amount
    from {{ ref('stg_marketing__ap_spend') }}

),

monthly_sales as (

    select
        account_id,
        sales_month,
        revenue_eur
    from {{ ref('int_accounts__monthly_sales') }}

),

treated_sales as (

    select
        windowed.spend_type,
        windowed.account_id,
        sum(
            case
                when monthly_sales.sales_month < windowed.first_spend_month then monthly_sales.revenue_eur
                else 0
            end
        ) as pre_revenue_eur,
        sum(
            case
                when monthly_sales.sales_month >= windowed.first_spend_month then monthly_sales.revenue_eur
                else 0
            end
        ) as post_revenue_eur
    from windowed
    inner join monthly_sales
        on
            windowed.account_id = monthly_sales.account_id
            and windowed.pre_start_month <= monthly_sales.sales_month
            and windowed.post_end_month > monthly_sales.sales_month
    where windowed.has_full_window
    group by windowed.spend_type, windowed.account_id

),

window_spend as (

    select
        windowed.spend_type,
        windowed.account_id,
        sum(spend.amount) as window_spend_eur
    from windowed
    inner join spend
        on
            windowed.account_id = spend.account_id
            and windowed.spend_type = spend.spend_type
            and windowed.first_spend_month <= spend.spend_month
            and windowed.post_end_month > spend.spend_month
    group by windowed.spend_type, windowed.account_id

),

comparison as (

    select * from {{ ref('int_rtm__ap_comparison_accounts') }}

),

comparison_means as (

    select
        cohort_month,
        channel,
        size_band,
        count(*) as comparison_accounts,
        avg(change_eur) as comparison_mean_change_eur
    from comparison
    group by cohort_month, channel, size_band

),

joined as (

    select
        windowed.spend_type,
        windowed.account_id,
        windowed.tier,
        windowed.plan,
        windowed.channel,
        windowed.size_band,
        windowed.first_spend_month,
        windowed.pre_start_month,
        windowed.post_end_month,
        windowed.has_full_window,
        case when windowed.has_full_window then coalesce(treated_sales.pre_revenue_eur, 0) end
            as pre_revenue_eur,
        case when windowed.has_full_window then coalesce(treated_sales.post_revenue_eur, 0) end
            as post_revenue_eur,
        comparison_means.comparison_accounts as comparison_cell_accounts,
        comparison_means.comparison_mean_change_eur,
        coalesce(window_spend.window_spend_eur, 0) as window_spend_eur
    from windowed
    left join treated_sales
        on
            windowed.spend_type = treated_sales.spend_type
            and windowed.account_id = treated_sales.account_id
    left join comparison_means
        on
            windowed.has_full_window
            and windowed.first_spend_month = comparison_means.cohort_month
            and windowed.channel = comparison_means.channel
            and windowed.size_band = comparison_means.size_band
    left join window_spend
        on
            windowed.spend_type = window_spend.spend_type
            and windowed.account_id = window_spend.account_id

),

final as (

    select
        spend_type,
        account_id,
        tier,
        plan,
        channel,
        size_band,
        first_spend_month,
        pre_start_month,
        post_end_month,
        case
            when not has_full_window then 'excluded_window'
            when pre_revenue_eur <= 0 then 'excluded_no_pre_sales'
            when comparison_cell_accounts is null then 'excluded_unmatched'
            else 'included'
        end as window_status,
        pre_revenue_eur,
        post_revenue_eur,
        post_revenue_eur - pre_revenue_eur * {{ post_months }} / {{ pre_months }}.0
            as treated_change_eur,
        comparison_cell_accounts,
        comparison_mean_change_eur,
        case
            when pre_revenue_eur > 0
                then
                    post_revenue_eur
                    - pre_revenue_eur * {{ post_months }} / {{ pre_months }}.0
                    - comparison_mean_change_eur
        end as did_eur,
        window_spend_eur
    from joined

)

select * from final
