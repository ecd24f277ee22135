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

    -- only the accounts that can be comparison accounts; a null revenue adds nothing to
    -- the sums below, as it added nothing to a sum() (grain: account_id + sales_month)
    select
        account_id,
        sales_month,
        coalesce(revenue_eur, 0) as revenue_eur
    from {{ ref('int_accounts__monthly_sales') }}
    where account_id in (select never_spent.account_id from never_spent)

),

neighbours as (

    -- each account month with the pre_months - 1 months before it and the post_months
    -- after it that the account bought in (one row per account and month, so no window
    -- holds more). Every (cohort, account) pair with a pre window purchase has exactly one
    -- "last month before the cohort" below: its row alone gives both sums, instead of every
    -- month x every cohort window it falls in (37 M rows at 1M accounts) summed per pair
    -- in a 7 M-group aggregate.
    select
        account_id,
        sales_month,
        {%- for k in range(1, pre_months) %}
            lag(sales_month, {{ k }}) over (partition by account_id order by sales_month)
                as month_before_{{ k }},
            lag(revenue_eur, {{ k }}) over (partition by account_id order by sales_month)
                as revenue_before_{{ k }},
        {%- endfor %}
        {%- for k in range(1, post_months + 1) %}
            lead(sales_month, {{ k }}) over (partition by account_id order by sales_month)
                as month_after_{{ k }},
            lead(revenue_eur, {{ k }}) over (partition by account_id order by sales_month)
                as revenue_after_{{ k }},
        {%- endfor %}
        revenue_eur
    from monthly_sales

),

windowed_sales as (

    -- keyed on (cohort, account) alone: the account's attributes join after. A row anchors
    -- the cohorts whose pre window holds it and that come after it but not after the
    -- account's next purchase month. The sums add the same months as a group-by over the
    -- window would, in month order (so the last bits of a sum can differ from a hash
    -- aggregate's, whose order is arbitrary anyway).
    select
        cohorts.cohort_month,
        neighbours.account_id,
        neighbours.revenue_eur
        {%- for k in range(1, pre_months) %}
            + case
                when neighbours.month_before_{{ k }} >= cohorts.pre_start_month
                    then neighbours.revenue_before_{{ k }}
                else 0
            end
        {%- endfor %} as pre_revenue_eur,
        {%- for k in range(1, post_months + 1) %}
            {{ '+ ' if not loop.first }}case
                when neighbours.month_after_{{ k }} < cohorts.post_end_month
                    then neighbours.revenue_after_{{ k }}
                else 0
            end
        {%- endfor %} as post_revenue_eur
    from cohorts
    inner join neighbours
        on
            cohorts.pre_start_month <= neighbours.sales_month
            and cohorts.cohort_month > neighbours.sales_month
            and (
                neighbours.month_after_1 is null
                or cohorts.cohort_month <= neighbours.month_after_1
            )

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
