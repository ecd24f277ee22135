-- Grain: one row per sales line of the r12 window attributed to a CRM account (line_source +
-- line_id): distributor sell-out lines linked to an account (int_sell_out_lines__linked) and
-- direct ERP invoice lines to accounts flagged is_direct in the CRM (the same lines as
-- int_accounts__monthly_sales). Returns and credit notes are netted (negative bottles).
--   gross_margin_eur = quantity_bottles x unit_margin_eur (stg_erp__products: list price -
--                      unit cost) x margin_factor
--   margin_factor    = var rtm.profitability.distributor_margin_factor for sell-out (the share
--                      of the list margin kept after distributor discounts), 1 for direct lines.
-- Lines whose product is unknown have no bottles and no margin (gross_margin_eur null).
{{ config(materialized='view') }}
{%- set distributor_factor = var('rtm').profitability.distributor_margin_factor %}
with

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

products as (

    select * from {{ ref('stg_erp__products') }}

),

direct_accounts as (

    select account_id
    from {{ ref('stg_crm__accounts') }}
    where is_direct

),

sell_out as (

    select
        'sell_out' as line_source,
        sell_out_lines.sell_out_line_id as line_id,
        sell_out_lines.account_id,
        sell_out_lines.distributor_id,
        sell_out_lines.sku,
        sell_out_lines.sale_month as sales_month,
        sell_out_lines.quantity_bottles,
        sell_out_lines.amount_eur as revenue_eur,
        {{ distributor_factor }} as margin_factor
    from {{ ref('int_sell_out_lines__linked') }} as sell_out_lines
    cross join periods
    where
        sell_out_lines.account_id is not null
        and sell_out_lines.sale_month between periods.r12_start and periods.as_of_month_start

),

direct_sell_in as (

    select
        'direct_sell_in' as line_source,
        sell_in_lines.sell_in_line_id as line_id,
        sell_in_lines.account_id,
        cast(null as {{ dbt.type_string() }}) as distributor_id,
        sell_in_lines.sku,
        sell_in_lines.invoice_month as sales_month,
        sell_in_lines.quantity_bottles,
        sell_in_lines.net_amount_eur as revenue_eur,
        1.0 as margin_factor
    from {{ ref('int_sell_in_lines__converted') }} as sell_in_lines
    inner join direct_accounts on sell_in_lines.account_id = direct_accounts.account_id
    cross join periods
    where
        sell_in_lines.customer_type = 'direct_account'
        and sell_in_lines.invoice_month between periods.r12_start and periods.as_of_month_start

),

attributed as (

    select * from sell_out
    union all
    select * from direct_sell_in

),

final as (

    select
        attributed.line_source,
        attributed.line_id,
        attributed.account_id,
        attributed.distributor_id,
        attributed.sku,
        attributed.sales_month,
        attributed.quantity_bottles,
        attributed.revenue_eur,
        products.unit_margin_eur,
        attributed.margin_factor,
        attributed.quantity_bottles * products.unit_margin_eur * attributed.margin_factor
            as gross_margin_eur
    from attributed
    left join products on attributed.sku = products.sku

)

select * from final
