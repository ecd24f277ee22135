-- Grain: one row per ERP invoice line (sell_in_line_id), with the quantity converted to
-- bottles and litres through the product master.
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
        lines.is_credit_note,
        lines.quantity,
        lines.quantity * case when lines.unit = 'case' then products.bottles_per_case else 1 end
            as quantity_bottles,
        lines.quantity
        * case when lines.unit = 'case' then products.bottles_per_case else 1 end
        * products.bottle_size_l as volume_litres,
        lines.net_amount as net_amount_eur,
        lines.quantity
        * case when lines.unit = 'case' then products.bottles_per_case else 1 end
        * products.unit_cost_eur as standard_cost_eur,
        lines.invoice_date,
        lines.invoice_month
    from lines
    left join products on lines.sku = products.sku

)

select * from converted
