-- Grain: one row per treatment cohort x comparison account (cohort_month + account_id): the
-- control side of ap_returns' difference in differences. Cohorts = the months in which some
-- active account got its first spend of some A&P type with a full pre and post window inside
-- the data (int_rtm__ap_first_spends.has_full_window). Comparison accounts = active accounts
-- with no A&P spend at all (any type, any time) that bought the brand in the cohort's pre
-- window (pre_revenue_eur > 0: comparable with treated accounts, which must have too).
-- change_eur = post - pre x post_months / pre_months, over the cohort's calendar months.
{%- set ap = var('rtm')['ap_returns'] %}
{%- set pre_months = ap['pre_months'] | int %}
{%- set post_months = ap['post_months'] | int %}
with

cohorts as (

    select distinct
        first_spend_month as cohort_month,
        pre_start_month,
        post_end_month
    from {{ ref('int_rtm__ap_first_spends') }}
    where has_full_window

),

never_spent as (

    select
        account_id,
        channel,
        size_band
    from {{ ref('int_rtm__ap_accounts') }}
    where not received_ap_spend

),

monthly_sales as (

    select
        account_id,
        sales_month,
        revenue_eur
    from {{ ref('int_accounts__monthly_sales') }}

),

windowed_sales as (

    select
        cohorts.cohort_month,
        never_spent.account_id,
        never_spent.channel,
        never_spent.size_band,
        sum(
            case
                when monthly_sales.sales_month < cohorts.cohort_month then monthly_sales.revenue_eur
                else 0
            end
        ) as pre_revenue_eur,
        sum(
            case
                when monthly_sales.sales_month >= cohorts.cohort_month then monthly_sales.revenue_eur
                else 0
            end
        ) as post_revenue_eur
    from cohorts
    inner join monthly_sales
        on
            cohorts.pre_start_month <= monthly_sales.sales_month
            and cohorts.post_end_month > monthly_sales.sales_month
    inner join never_spent on monthly_sales.account_id = never_spent.account_id
    group by cohorts.cohort_month, never_spent.account_id, never_spent.channel, never_spent.size_band

),

final as (

    select
        cohort_month,
        account_id,
        channel,
        size_band,
        pre_revenue_eur,
        post_revenue_eur,
        post_revenue_eur - pre_revenue_eur * {{ post_months }} / {{ pre_months }}.0 as change_eur
    from windowed_sales
    where pre_revenue_eur > 0

)

select * from final
