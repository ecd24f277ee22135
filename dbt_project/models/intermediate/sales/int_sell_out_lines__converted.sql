-- Grain: one row per distributor sell-out line (sell_out_line_id), with the distributor's
-- product code resolved to our SKU and the quantity converted to bottles and litres.
-- product_code is an EAN or a SKU depending on the distributor: var
-- distributor_product_code_types ({D01: ean, D02: sku, ...}, from company.yaml) says which;
-- a distributor not listed is resolved by trying the EAN, then the SKU. A code that matches
-- no product is kept (sku null, is_product_resolved false; a warning test counts them):
-- its amount still counts, its bottles and litres are unknown.
-- Units: macro quantity_in_bottles (bottle, case x bottles_per_case, litre / bottle_size_l;
-- null for another unit: is_unit_known). Currency: a distributor's amounts are in the
-- company currency unless var distributor_currencies names another one; amount_eur =
-- amount x fx_rate (var fx_rates_to_company_currency), null when the currency has no rate
-- (is_currency_known = false).
-- is_own_product: the product is one of ours. var own_brands (company.yaml own_brands, the
-- product master's brand): empty = every line is ours (a manufacturer's own feed); set when
-- the feed reports the whole market, lines of other brands (and of unknown products) are
-- market purchases, never brand revenue (int_accounts__market_purchases).
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
{%- set currency_whens = [] %}
{%- for distributor_id, currency in (var('distributor_currencies', {}) or {}).items() %}
    {%- do currency_whens.append(
        "when lines.distributor_id = '" ~ distributor_id ~ "' then '" ~ (currency | upper) ~ "'") %}
{%- endfor %}
{%- set own_brands = var('own_brands', []) or [] %}
{%- if own_brands %}
    {%- set own_expression = "coalesce(products.brand in ('" ~ (own_brands | map('replace', "'", "''") | join("', '")) ~ "'), false)" %}
{%- else %}
    {%- set own_expression = "true" %}
{%- endif %}
{%- set company_currency = "'" ~ (var('company_currency', 'EUR') | upper) ~ "'" %}
{%- if currency_whens %}
    {%- set currency_expression = "case " ~ (currency_whens | join(' ')) ~ " else "
        ~ company_currency ~ " end" %}
{%- else %}
    {%- set currency_expression = company_currency %}
{%- endif %}
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
        {{ declared_expression }} as declared_code_type,
        {{ currency_expression }} as currency
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
        {{ own_expression }} as is_own_product,
        coded.invoice_ref,
        coded.customer_name,
        coded.customer_postcode,
        coded.unit,
        coded.unit in ('bottle', 'case', 'litre') as is_unit_known,
        coded.is_return,
        coded.quantity,
        {{ quantity_in_bottles(
            'coded.quantity', 'coded.unit', 'products.bottles_per_case', 'products.bottle_size_l'
        ) }} as quantity_bottles,
        {{ quantity_in_bottles(
            'coded.quantity', 'coded.unit', 'products.bottles_per_case', 'products.bottle_size_l'
        ) }} * products.bottle_size_l as volume_litres,
        coded.currency,
        {{ fx_rate('coded.currency') }} is not null as is_currency_known,
        {{ fx_rate('coded.currency') }} as fx_rate,
        coded.amount,
        coded.amount * {{ fx_rate('coded.currency') }} as amount_eur,
        coded.sale_date,
        coded.sale_month,
        coded.source_file,
        coded.source_line,
        coded.file_hash,
        coded.loaded_at
    from coded
    left join products on coded.sku = products.sku

)

select * from converted
