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

    -- only the accounts that can be comparison accounts go through the window join
    select
        account_id,
        sales_month,
        revenue_eur
    from {{ ref('int_accounts__monthly_sales') }}
    where account_id in (select never_spent.account_id from never_spent)

),

windowed_sales as (

    -- keyed on (cohort, account) alone: the account's attributes join after the aggregate
    -- (grouping 60 M joined rows by two more strings took 54 s at 1M accounts, 5 s without)
    select
        cohorts.cohort_month,
        monthly_sales.account_id,
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
    group by cohorts.cohort_month, monthly_sales.account_id

),

final as (

    select
        windowed_sales.cohort_month,
        windowed_sales.account_id,
        never_spent.channel,
        never_spent.size_band,
        windowed_sales.pre_revenue_eur,
        windowed_sales.post_revenue_eur,
        windowed_sales.post_revenue_eur
        - windowed_sales.pre_revenue_eur * {{ post_months }} / {{ pre_months }}.0 as change_eur
    from windowed_sales
    inner join never_spent on windowed_sales.account_id = never_spent.account_id
    where windowed_sales.pre_revenue_eur > 0

)

select * from final
