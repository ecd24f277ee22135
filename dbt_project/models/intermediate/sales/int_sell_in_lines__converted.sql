-- Grain: one row per ERP invoice line (sell_in_line_id), harmonized to one basis:
--   quantity_bottles = quantity in bottles (bottle; case x bottles_per_case; litre /
--                      bottle_size_l; macro quantity_in_bottles), volume_litres = bottles x
--                      bottle_size_l; null for an unknown unit or product (is_unit_known).
--   net_amount_eur   = net_amount x fx_rate(currency): the company currency (var
--                      company_currency, EUR for the sample), rates from var
--                      fx_rates_to_company_currency; null when the currency has no rate
--                      (is_currency_known = false, counted by a warning test).
-- Rebuilt only when its inputs changed (macros/table_on_input_change.sql): most nights
-- bring none of them.
{{ config(materialized='table_on_input_change') }}
with

lines as (

    select * from {{ ref('stg_erp__sell_in_lines') }}

),

products as (

    select * from {{ ref('stg_erp__products') }}

),

converted as (

    select
        lines.sell_in_line_id,
        lines.invoice_id,
        lines.line_number,
        lines.customer_type,
        lines.customer_id,
        lines.distributor_id,
        lines.account_id,
        lines.sku,
        products.sku is not null as is_product_resolved,
        products.brand,
        products.category,
        lines.unit,
        lines.unit in ('bottle', 'case', 'litre') as is_unit_known,
        lines.is_credit_note,
        lines.quantity,
        {{ quantity_in_bottles(
            'lines.quantity', 'lines.unit', 'products.bottles_per_case', 'products.bottle_size_l'
        ) }} as quantity_bottles,
        lines.currency,
        lines.net_amount,
        {{ fx_rate('lines.currency') }} as fx_rate,
        lines.invoice_date,
        lines.invoice_month,
        products.bottle_size_l,
        products.unit_cost_eur
    from lines
    left join products on lines.sku = products.sku

),

final as (

    select
        sell_in_line_id,
        invoice_id,
        line_number,
        customer_type,
        customer_id,
        distributor_id,
        account_id,
        sku,
        is_product_resolved,
        brand,
        category,
        unit,
        is_unit_known,
        is_credit_note,
        quantity,
        quantity_bottles,
        quantity_bottles * bottle_size_l as volume_litres,
        currency,
        fx_rate is not null as is_currency_known,
        fx_rate,
        net_amount,
        net_amount * fx_rate as net_amount_eur,
        quantity_bottles * unit_cost_eur as standard_cost_eur,
        invoice_date,
        invoice_month
    from converted

)

select * from final
