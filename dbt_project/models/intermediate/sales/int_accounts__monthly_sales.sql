-- Grain: one row per CRM account and calendar month with any brand activity (account_id +
-- sales_month). Brand revenue and volume = sell-out lines of our products (is_own_product;
-- other brands' lines are int_accounts__market_purchases) linked to the account + direct
-- sell-in invoices for accounts flagged is_direct in the CRM (direct invoices to an account
-- not flagged direct are left out). Returns and credit notes are netted. Amounts are in the
-- company currency; a line whose currency has no rate (amount_eur null) adds nothing to
-- revenue and is counted in unconverted_line_count.
-- The sell-out side comes already summed per account and month from
-- int_accounts__market_purchases (its own_* columns), which reads the line-level fact once
-- for both models; days with a purchase are day sets (day_of_month_bit), so a day bought
-- through both a distributor and a direct invoice counts once.
--
-- Incremental by pair: a night rebuilds only the (account_id, sales_month) pairs that
-- int_accounts__market_purchases re-aggregated since this table was built (it logs them),
-- and every pair when that cannot be exact: another version of this SQL, changed direct
-- sell-in inputs (ERP sell-in, CRM is_direct), a market_purchases build that rebuilt every
-- pair (macros/incremental_monthly_sales.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='sync_all_columns',
    pre_hook="{{ monthly_sales_prune() }}",
    post_hook="{{ monthly_sales_record_state() }}",
) }}
with

own_sell_out as (

    select
        account_id,
        sales_month,
        own_amount_eur as sell_out_revenue_eur,
        own_bottles as bottles,
        own_volume_litres as volume_litres,
        own_line_count as sell_out_line_count,
        own_unconverted_line_count as unconverted_line_count,
        own_last_purchase_date as last_purchase_date,
        own_purchase_day_mask as purchase_day_mask
    from {{ ref('int_accounts__market_purchases') }} as market_purchases
    where
        own_line_count > 0
        {{- monthly_sales_pairs_to_build('market_purchases', 'sales_month') }}

),

direct_accounts as (

    select account_id
    from {{ ref('stg_crm__accounts') }}
    where is_direct

),

direct_sell_in as (

    select
        sell_in.account_id,
        sell_in.invoice_month as sales_month,
        coalesce(sum(sell_in.net_amount_eur), 0) as direct_revenue_eur,
        coalesce(sum(sell_in.quantity_bottles), 0) as bottles,
        coalesce(sum(sell_in.volume_litres), 0) as volume_litres,
        count(*) as direct_line_count,
        sum(case when sell_in.net_amount_eur is null then 1 else 0 end) as unconverted_line_count,
        max(case when sell_in.quantity > 0 then sell_in.invoice_date end) as last_purchase_date,
        bit_or(
            case when sell_in.quantity > 0 then {{ day_of_month_bit('sell_in.invoice_date') }} end
        ) as purchase_day_mask
    from {{ ref('int_sell_in_lines__converted') }} as sell_in
    inner join direct_accounts on sell_in.account_id = direct_accounts.account_id
    where
        sell_in.customer_type = 'direct_account'
        {{- monthly_sales_pairs_to_build('sell_in', 'invoice_month') }}
    group by sell_in.account_id, sell_in.invoice_month

),

monthly as (

    select
        coalesce(own_sell_out.account_id, direct_sell_in.account_id) as account_id,
        coalesce(own_sell_out.sales_month, direct_sell_in.sales_month) as sales_month,
        coalesce(own_sell_out.sell_out_revenue_eur, 0)
        + coalesce(direct_sell_in.direct_revenue_eur, 0) as revenue_eur,
        coalesce(own_sell_out.sell_out_revenue_eur, 0) as sell_out_revenue_eur,
        coalesce(direct_sell_in.direct_revenue_eur, 0) as direct_revenue_eur,
        coalesce(own_sell_out.bottles, 0) + coalesce(direct_sell_in.bottles, 0) as bottles,
        coalesce(own_sell_out.volume_litres, 0)
        + coalesce(direct_sell_in.volume_litres, 0) as volume_litres,
        coalesce(own_sell_out.sell_out_line_count, 0) as sell_out_line_count,
        coalesce(direct_sell_in.direct_line_count, 0) as direct_line_count,
        coalesce(own_sell_out.unconverted_line_count, 0)
        + coalesce(direct_sell_in.unconverted_line_count, 0) as unconverted_line_count,
        case
            when direct_sell_in.last_purchase_date is null
                then own_sell_out.last_purchase_date
            when own_sell_out.last_purchase_date is null
                then direct_sell_in.last_purchase_date
            when own_sell_out.last_purchase_date > direct_sell_in.last_purchase_date
                then own_sell_out.last_purchase_date
            else direct_sell_in.last_purchase_date
        end as last_purchase_date,
        -- days of the month with a purchase (any source): the frequency of ordering
        {{ day_count(
            'coalesce(own_sell_out.purchase_day_mask, 0) | coalesce(direct_sell_in.purchase_day_mask, 0)'
        ) }} as purchase_days
    from own_sell_out
    full outer join direct_sell_in
        on
            own_sell_out.account_id = direct_sell_in.account_id
            and own_sell_out.sales_month = direct_sell_in.sales_month

),

final as (

    select
        *,
        revenue_eur > 0 as has_purchases
    from monthly

)

select * from final
