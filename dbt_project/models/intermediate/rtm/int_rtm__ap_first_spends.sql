-- Grain: one row per active account x A&P spend type it ever received (spend_type +
-- account_id): the treatment month m (the month of its first spend of that type) and the
-- difference-in-differences window around it, pre = [m - pre_months, m), post = [m, m +
-- post_months). has_full_window: the whole pre window is on or after the first month with
-- sales data and the whole post window on or before as_of_month; both sides of ap_returns
-- (treated accounts, and the cohorts their comparison accounts are measured for) use it.
{%- set ap = var('rtm')['ap_returns'] %}
{%- set pre_months = ap['pre_months'] | int %}
{%- set post_months = ap['post_months'] | int %}
with

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

accounts as (

    select * from {{ ref('int_rtm__ap_accounts') }}

),

spend as (

    select
        account_id,
        spend_type,
        spend_month
    from {{ ref('stg_marketing__ap_spend') }}

),

data_window as (

    select
        periods.as_of_month_start,
        min(monthly_sales.sales_month) as data_start_month
    from periods
    cross join {{ ref('int_accounts__monthly_sales') }} as monthly_sales
    group by periods.as_of_month_start

),

first_spend as (

    select
        account_id,
        spend_type,
        min(spend_month) as first_spend_month
    from spend
    group by account_id, spend_type

),

windows as (

    select
        first_spend.spend_type,
        first_spend.account_id,
        accounts.tier,
        accounts.plan,
        accounts.channel,
        accounts.size_band,
        first_spend.first_spend_month,
        {{ add_months('first_spend.first_spend_month', -pre_months) }} as pre_start_month,
        {{ add_months('first_spend.first_spend_month', post_months) }} as post_end_month,
        {{ add_months('first_spend.first_spend_month', -pre_months) }} >= data_window.data_start_month
        and {{ add_months('first_spend.first_spend_month', post_months - 1) }}
        <= data_window.as_of_month_start as has_full_window
    from first_spend
    inner join accounts on first_spend.account_id = accounts.account_id
    cross join data_window

)

select * from windows
