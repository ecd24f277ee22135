-- Fails (error) when a brand of var own_brands (company.yaml own_brands, or rtm run --brand)
-- names no product of the product master: a misspelt brand would otherwise make every line a
-- market purchase and the brand's revenue silently 0. Returns the unknown brands.
{{ config(severity='error') }}
{%- set brands = var('own_brands', []) or [] %}
with

configured as (

    {%- if brands %}
        {%- for brand in brands %}
            select '{{ brand | replace("'", "''") }}' as brand
            {%- if not loop.last %}
                union all
            {%- endif %}
        {%- endfor %}
    {%- else %}
        select cast(null as {{ dbt.type_string() }}) as brand
        where false
    {%- endif %}

)

select configured.brand as unknown_own_brand
from configured
where not exists (
    select 1
    from {{ ref('stg_erp__products') }} as products
    where products.brand = configured.brand
)
