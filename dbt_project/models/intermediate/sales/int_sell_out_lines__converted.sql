-- Grain: one row per distributor sell-out line (sell_out_line_id), with the distributor's
-- product code resolved to our SKU and the quantity converted to bottles and litres.
-- product_code is an EAN or a SKU depending on the distributor: var
-- distributor_product_code_types ({D01: ean, D02: sku, ...}, from company.yaml) says which;
-- a distributor not listed is resolved by trying the EAN, then the SKU.
-- A view: it is read once, by int_sell_out_lines__linked (the materialized line-level fact),
-- so writing it as a table would only copy every sell-out line one more time.
{{ config(materialized='view') }}
{%- set code_types = var('distributor_product_code_types', {}) or {} %}
{%- set declared_whens = [] %}
{%- for distributor_id, code_type in code_types.items() %}
    {%- if code_type not in ('ean', 'sku') %}
        {{ exceptions.raise_compiler_error(
            "distributor_product_code_types: '" ~ code_type ~ "' for " ~ distributor_id
            ~ " is not one of ean, sku") }}
    {%- endif %}
    {%- do declared_whens.append(
        "when lines.distributor_id = '" ~ distributor_id ~ "' then '" ~ code_type ~ "'") %}
{%- endfor %}
{%- if declared_whens %}
    {%- set declared_expression = "case " ~ (declared_whens | join(' ')) ~ " end" %}
{%- else %}
    {%- set declared_expression = "cast(null as " ~ dbt.type_string() ~ ")" %}
{%- endif %}
with

lines as (

    select * from {{ ref('stg_distributors__sell_out_lines') }}

),

products as (

    select * from {{ ref('stg_erp__products') }}

),

resolved as (

    select
        lines.*,
        by_ean.sku as sku_by_ean,
        by_sku.sku as sku_by_sku,
        {{ declared_expression }} as declared_code_type
    from lines
    left join products as by_ean on lines.product_code = by_ean.ean
    left join products as by_sku on lines.product_code = by_sku.sku

),

coded as (

    select
        *,
        case
            when declared_code_type = 'ean' then sku_by_ean
            when declared_code_type = 'sku' then sku_by_sku
            else coalesce(sku_by_ean, sku_by_sku)
        end as sku,
        case
            when declared_code_type is not null then declared_code_type
            when sku_by_ean is not null then 'ean'
            when sku_by_sku is not null then 'sku'
        end as product_code_type
    from resolved

),

converted as (

    select
        coded.sell_out_line_id,
        coded.distributor_id,
        coded.distributor_account_code,
        coded.product_code,
        coded.product_code_type,
        coded.sku,
        coded.sku is not null as is_product_resolved,
        products.brand,
        products.category,
        coded.invoice_ref,
        coded.customer_name,
        coded.customer_postcode,
        coded.unit,
        coded.is_return,
        coded.quantity,
        coded.quantity * case when coded.unit = 'case' then products.bottles_per_case else 1 end
            as quantity_bottles,
        coded.quantity
        * case when coded.unit = 'case' then products.bottles_per_case else 1 end
        * products.bottle_size_l as volume_litres,
        coded.amount as amount_eur,
        coded.sale_date,
        coded.sale_month,
        coded.source_file,
        coded.source_line,
        coded.loaded_at
    from coded
    left join products on coded.sku = products.sku

)

select * from converted
