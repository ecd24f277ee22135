-- Grain: one row per active CRM account (account_id), for the reporting period of
-- int_reporting__periods (var as_of_month): brand revenue and volume over the rolling 12
-- months (r12) and the 12 before (p12), growth, purchase behaviour, potential, share of
-- wallet and the opportunity to gain share.
--   growth_pct       = 100 * (revenue_r12 - revenue_p12) / revenue_p12; null when p12 <= 0.
--   share_of_wallet  = revenue_r12 / potential_eur (both as published, to the cent), bounded
--                      to [0, var share_of_wallet_cap]
--                      (is_share_of_wallet_capped when the raw ratio exceeded the cap);
--                      null without a positive potential.
--   target_share     = var target_share_percentile of share_of_wallet among buying accounts
--                      (revenue_r12 > 0) of the same channel and size band, if at least
--                      var target_share_min_peers of them, else of the channel.
--   opportunity_eur  = max(0, target_share * potential_eur - revenue_r12).
-- Purchase behaviour over r12 (a month "with purchases" has a positive net revenue):
--   months_with_purchases_r12 = such months (0-12); recency_days = days from the last
--                      purchase to the end of as_of_month.
--   frequency_r12    = purchase days (distinct days with a positive quantity, sell-out or
--                      direct invoice) per month with purchases; null without purchases.
--   monthly_revenue_cv_r12 = coefficient of variation (population standard deviation /
--                      mean) of the 12 monthly revenues, months without purchases as 0;
--                      0 = the same amount every month; null without revenue.
--   regularity_r12   = (months_with_purchases_r12 / 12) / (1 + monthly_revenue_cv_r12), in
--                      [0, 1]: 1 = buys every month the same amount, low = buys in a few
--                      months or in bursts (deal-driven); 0 without revenue.
-- Image (online reputation and visibility, normalized within the channel):
--   image_raw        = best linked listing's rating x ln(1 + review_count); null without a
--                      linked listing.
--   contribution_eur = account_profitability.contribution_eur (null without a row there)
--   image_score      = percent_rank of image_raw among the accounts of the same channel
--                      that have one (0..1); null without a linked listing.
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}
    where is_active

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

monthly_sales as (

    select * from {{ ref('int_accounts__monthly_sales') }}

),

potential as (

    select * from {{ ref('int_accounts__potential') }}

),

listings as (

    select
        account_id,
        max(coalesce(rating, 0) * ln(1 + coalesce(review_count, 0))) as image_raw
    from {{ ref('int_accounts__online_links') }}
    where account_id is not null
    group by account_id

),

image_scores as (

    -- ranked on the three columns it needs and joined back by account: a window carries
    -- every column of its input through its sort
    select
        accounts.account_id,
        percent_rank() over (
            partition by accounts.channel order by listings.image_raw
        ) as image_score
    from accounts
    inner join listings on accounts.account_id = listings.account_id

),

sales as (

    select
        monthly_sales.account_id,
        sum(case
            when monthly_sales.sales_month between periods.r12_start and periods.as_of_month_start
                then monthly_sales.revenue_eur
            else 0
        end) as revenue_r12,
        sum(case
            when monthly_sales.sales_month between periods.p12_start and periods.p12_end
                then monthly_sales.revenue_eur
            else 0
        end) as revenue_p12,
        sum(case
            when monthly_sales.sales_month between periods.r12_start and periods.as_of_month_start
                then monthly_sales.bottles
            else 0
        end) as bottles_r12,
        sum(case
            when monthly_sales.sales_month between periods.p12_start and periods.p12_end
                then monthly_sales.bottles
            else 0
        end) as bottles_p12,
        -- one row per account and month (int_accounts__monthly_sales' grain): counting the
        -- rows counts the months, without a distinct (a 5.6 M-group hash at 1M accounts)
        count(case
            when
                monthly_sales.sales_month between periods.r12_start and periods.as_of_month_start
                and monthly_sales.has_purchases
                then 1
        end) as months_with_purchases_r12,
        sum(case
            when
                monthly_sales.sales_month between periods.r12_start and periods.as_of_month_start
                and monthly_sales.has_purchases
                then monthly_sales.purchase_days
            else 0
        end) as purchase_days_r12,
        sum(case
            when monthly_sales.sales_month between periods.r12_start and periods.as_of_month_start
                then monthly_sales.revenue_eur * monthly_sales.revenue_eur
            else 0
        end) as revenue_squares_r12,
        max(case
            when monthly_sales.sales_month <= periods.as_of_month_start
                then monthly_sales.last_purchase_date
        end) as last_purchase_date
    from monthly_sales
    cross join periods
    group by monthly_sales.account_id

),

measured as (

    select
        accounts.account_id,
        accounts.channel,
        potential.size_band,
        periods.as_of_month,
        periods.as_of_month_end,
        round(coalesce(sales.revenue_r12, 0), 2) as revenue_r12,
        round(coalesce(sales.revenue_p12, 0), 2) as revenue_p12,
        round(coalesce(sales.bottles_r12, 0), 2) as bottles_r12,
        round(coalesce(sales.bottles_p12, 0), 2) as bottles_p12,
        coalesce(sales.months_with_purchases_r12, 0) as months_with_purchases_r12,
        coalesce(sales.purchase_days_r12, 0) as purchase_days_r12,
        coalesce(sales.revenue_squares_r12, 0) as revenue_squares_r12,
        sales.last_purchase_date,
        listings.image_raw,
        image_scores.image_score,
        round(potential.potential_eur, 2) as potential_eur,
        potential.potential_method
    from accounts
    cross join periods
    left join sales on accounts.account_id = sales.account_id
    left join potential on accounts.account_id = potential.account_id
    left join listings on accounts.account_id = listings.account_id
    left join image_scores on accounts.account_id = image_scores.account_id

),

shares as (

    select
        *,
        case
            when revenue_p12 > 0
                then 100.0 * (revenue_r12 - revenue_p12) / revenue_p12
        end as growth_pct,
        case when potential_eur > 0 then revenue_r12 / potential_eur end as raw_share_of_wallet,
        case
            when months_with_purchases_r12 > 0
                then 1.0 * purchase_days_r12 / months_with_purchases_r12
        end as frequency_r12,
        -- population variance of the 12 monthly revenues = E[x^2] - E[x]^2 (zeros included)
        case
            when revenue_r12 > 0
                then
                    sqrt(greatest(revenue_squares_r12 / 12.0 - power(revenue_r12 / 12.0, 2), 0))
                    / (revenue_r12 / 12.0)
        end as monthly_revenue_cv_r12
    from measured

),

bounded as (

    select
        *,
        case
            when raw_share_of_wallet is null then null
            when raw_share_of_wallet < 0 then 0
            when raw_share_of_wallet > {{ var('share_of_wallet_cap') }}
                then {{ var('share_of_wallet_cap') }}
            else raw_share_of_wallet
        end as share_of_wallet,
        coalesce(raw_share_of_wallet > {{ var('share_of_wallet_cap') }}, false)
            as is_share_of_wallet_capped
    from shares

),

cell_targets as (

    select
        channel,
        size_band,
        {{ percentile_cont('share_of_wallet', var('target_share_percentile')) }} as target_share,
        count(*) as peer_count
    from bounded
    where revenue_r12 > 0 and share_of_wallet is not null
    group by channel, size_band

),

channel_targets as (

    select
        channel,
        {{ percentile_cont('share_of_wallet', var('target_share_percentile')) }} as target_share,
        count(*) as peer_count
    from bounded
    where revenue_r12 > 0 and share_of_wallet is not null
    group by channel

),

targeted as (

    select
        bounded.*,
        round(case
            when cell_targets.peer_count >= {{ var('target_share_min_peers') }}
                then cell_targets.target_share
            when channel_targets.peer_count >= {{ var('target_share_min_peers') }}
                then channel_targets.target_share
        end, 4) as target_share_of_wallet
    from bounded
    left join cell_targets
        on
            bounded.channel = cell_targets.channel
            and bounded.size_band = cell_targets.size_band
    left join channel_targets on bounded.channel = channel_targets.channel

),

-- contribution from the profitability model (gross margin - cost to serve, r12)
profitability as (

    select
        account_id,
        contribution_eur
    from {{ ref('account_profitability') }}

),

with_contribution as (

    select
        targeted.*,
        profitability.contribution_eur
    from targeted
    left join profitability on targeted.account_id = profitability.account_id

),

final as (

    select
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(as_of_month as {{ dbt.type_string() }}) as as_of_month,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(size_band as {{ dbt.type_string() }}) as size_band,
        cast(revenue_r12 as {{ type_double() }}) as revenue_r12,
        cast(revenue_p12 as {{ type_double() }}) as revenue_p12,
        cast(growth_pct as {{ type_double() }}) as growth_pct,
        cast(bottles_r12 as {{ type_double() }}) as bottles_r12,
        cast(bottles_p12 as {{ type_double() }}) as bottles_p12,
        cast(months_with_purchases_r12 as {{ dbt.type_bigint() }}) as months_with_purchases_r12,
        cast(last_purchase_date as date) as last_purchase_date,
        cast(
            {{ dbt.datediff('last_purchase_date', 'as_of_month_end', 'day') }}
            as {{ dbt.type_bigint() }}
        ) as recency_days,
        cast(purchase_days_r12 as {{ dbt.type_bigint() }}) as purchase_days_r12,
        cast(round(frequency_r12, 4) as {{ type_double() }}) as frequency_r12,
        cast(round(monthly_revenue_cv_r12, 4) as {{ type_double() }}) as monthly_revenue_cv_r12,
        cast(case
            when monthly_revenue_cv_r12 is null then 0
            else round((months_with_purchases_r12 / 12.0) / (1 + monthly_revenue_cv_r12), 4)
        end as {{ type_double() }}) as regularity_r12,
        cast(round(image_raw, 4) as {{ type_double() }}) as image_raw,
        cast(round(image_score, 4) as {{ type_double() }}) as image_score,
        cast(potential_eur as {{ type_double() }}) as potential_eur,
        cast(potential_method as {{ dbt.type_string() }}) as potential_method,
        cast(share_of_wallet as {{ type_double() }}) as share_of_wallet,
        cast(is_share_of_wallet_capped as {{ dbt.type_boolean() }}) as is_share_of_wallet_capped,
        cast(target_share_of_wallet as {{ type_double() }}) as target_share_of_wallet,
        cast(case
            when target_share_of_wallet is not null and potential_eur is not null
                then round(greatest(0, target_share_of_wallet * potential_eur - revenue_r12), 2)
        end as {{ type_double() }}) as opportunity_eur,
        cast(contribution_eur as {{ type_double() }}) as contribution_eur
    from with_contribution

)

select * from final
