-- Grain: one row per distributor sell-out line as loaded (file hash + line number): what a
-- distributor sold of our products to one of its customers; negative quantities are returns.
-- Codes are still the distributor's own (customer code, EAN or SKU); see intermediate models.
with

source as (

    select * from {{ source('raw', 'distributor_sell_out') }}

),

renamed as (

    select
        -- ids
        {{ surrogate_key(['_file_hash', '_source_line']) }} as sell_out_line_id,
        distributor_id,
        trim(distributor_account_code) as distributor_account_code,
        trim(product_code) as product_code,
        invoice_ref,

        -- customer as the distributor knows it
        trim(account_name) as customer_name,
        nullif(trim(address), '') as customer_address,
        nullif(trim(postcode), '') as customer_postcode,
        nullif(trim(city), '') as customer_city,
        {{ department_code("nullif(trim(postcode), '')") }} as customer_department_code,
        nullif(trim(phone), '') as customer_phone,
        nullif(trim(siret), '') as customer_siret,

        -- categories
        unit,
        quantity < 0 as is_return,

        -- measures
        quantity,
        amount,

        -- dates
        sale_date,
        {{ month_start('sale_date') }} as sale_month,

        -- lineage
        _source_file as source_file,
        _source_line as source_line,
        _file_hash as file_hash,
        _loaded_at as loaded_at

    from source

)

select * from renamed
