-- Grain: one row per CRM account and calendar month with any brand activity (account_id +
-- sales_month). Brand revenue and volume = sell-out lines of our products (is_own_product;
-- other brands' lines are int_accounts__market_purchases) linked to the account + direct
-- sell-in invoices for accounts flagged is_direct in the CRM (direct invoices to an account
-- not flagged direct are left out). Returns and credit notes are netted. Amounts are in the
-- company currency; a line whose currency has no rate (amount_eur null) adds nothing to
-- revenue and is counted in unconverted_line_count.
with

sell_out as (

    select
        account_id,
        sale_month as sales_month,
        sale_date as activity_date,
        amount_eur as sell_out_revenue_eur,
        0 as direct_revenue_eur,
        quantity_bottles,
        volume_litres,
        quantity > 0 as is_purchase,
        1 as sell_out_line_count,
        0 as direct_line_count,
        case when amount_eur is null then 1 else 0 end as unconverted_line_count
    from {{ ref('int_sell_out_lines__linked') }}
    where account_id is not null and is_own_product

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
        sell_in.invoice_date as activity_date,
        0 as sell_out_revenue_eur,
        sell_in.net_amount_eur as direct_revenue_eur,
        sell_in.quantity_bottles,
        sell_in.volume_litres,
        sell_in.quantity > 0 as is_purchase,
        0 as sell_out_line_count,
        1 as direct_line_count,
        case when sell_in.net_amount_eur is null then 1 else 0 end as unconverted_line_count
    from {{ ref('int_sell_in_lines__converted') }} as sell_in
    inner join direct_accounts on sell_in.account_id = direct_accounts.account_id
    where sell_in.customer_type = 'direct_account'

),

activity as (

    select * from sell_out
    union all
    select * from direct_sell_in

),

monthly as (

    select
        account_id,
        sales_month,
        coalesce(sum(sell_out_revenue_eur + direct_revenue_eur), 0) as revenue_eur,
        coalesce(sum(sell_out_revenue_eur), 0) as sell_out_revenue_eur,
        coalesce(sum(direct_revenue_eur), 0) as direct_revenue_eur,
        coalesce(sum(quantity_bottles), 0) as bottles,
        coalesce(sum(volume_litres), 0) as volume_litres,
        sum(sell_out_line_count) as sell_out_line_count,
        sum(direct_line_count) as direct_line_count,
        sum(unconverted_line_count) as unconverted_line_count,
        max(case when is_purchase then activity_date end) as last_purchase_date,
        -- days of the month with a purchase (any source): the frequency of ordering
        count(distinct case when is_purchase then activity_date end) as purchase_days
    from activity
    group by account_id, sales_month

),

final as (

    select
        *,
        revenue_eur > 0 as has_purchases
    from monthly

)

select * from final
