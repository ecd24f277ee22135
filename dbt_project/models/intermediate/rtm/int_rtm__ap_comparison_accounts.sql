-- Grain: one row per treatment cohort x comparison account (cohort_month + account_id): the
-- control side of ap_returns' difference in differences. Cohorts = the months in which some
-- active account got its first spend of some A&P type with a full pre and post window inside
-- the data (first month with sales .. as_of_month). Comparison accounts = active accounts with
-- no A&P spend at all (any type, any time) that bought the brand in the cohort's pre window
-- (pre_revenue_eur > 0: comparable with treated accounts, which must have too).
-- change_eur = post - pre x post_months / pre_months, over the cohort's calendar months.
{%- set ap = var('rtm')['ap_returns'] %}
{%- set pre_months = ap['pre_months'] | int %}
{%- set post_months = ap['post_months'] | int %}
with

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

spend as (

    select
        account_id,
        spend_type,
        spend_month
    from {{ ref('stg_marketing__ap_spend') }}

),

monthly_sales as (

    select
        account_id,
        sales_month,
        revenue_eur
    from {{ ref('int_accounts__monthly_sales') }}

),

segments as (

    select
        account_id,
        channel
    from {{ ref('account_segments') }}

),

potential as (

    select
        account_id,
        size_band
    from {{ ref('int_accounts__potential') }}

),

accounts as (

    select
        segments.account_id,
        coalesce(segments.channel, 'unknown') as channel,
        coalesce(potential.size_band, 'unknown') as size_band
    from segments
    left join potential on segments.account_id = potential.account_id

),

data_window as (

    select
        periods.as_of_month_start,
        min(monthly_sales.sales_month) as data_start_month
    from periods
    cross join monthly_sales
    group by periods.as_of_month_start

),

first_spend as (

    select
        spend.account_id,
        spend.spend_type,
        min(spend.spend_month) as first_spend_month
    from spend
    inner join accounts on spend.account_id = accounts.account_id
    group by spend.account_id, spend.spend_type

),

cohorts as (

    select distinct
        first_spend.first_spend_month as cohort_month,
        {{ add_months('first_spend.first_spend_month', -pre_months) }} as pre_start_month,
        {{ add_months('first_spend.first_spend_month', post_months) }} as post_end_month
    from first_spend
    cross join data_window
    where
        {{ add_months('first_spend.first_spend_month', -pre_months) }} >= data_window.data_start_month
        and {{ add_months('first_spend.first_spend_month', post_months - 1) }}
        <= data_window.as_of_month_start

),

spenders as (

    select distinct account_id
    from spend

),

never_spent as (

    select
        accounts.account_id,
        accounts.channel,
        accounts.size_band
    from accounts
    left join spenders on accounts.account_id = spenders.account_id
    where spenders.account_id is null

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
