-- Grain: one row per SKU (sku), from the product master snapshot.
with

source as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select
        -- ids
        sku,
        ean,

        -- descriptive
        product_name,
        brand,
        category,
        status as product_status,
        status = 'active' as is_active,

        -- pack
        bottle_size_l,
        bottles_per_case,

        -- money (EUR per bottle)
        list_price as list_price_eur,
        unit_cost as unit_cost_eur,
        list_price - unit_cost as unit_margin_eur,

        -- dates
        launch_date,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
