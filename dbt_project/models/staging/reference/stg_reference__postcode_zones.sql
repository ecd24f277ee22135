-- Grain: one row per postcode and zone (postcode + zone_id), from the reference snapshot; a
-- postcode spanning several zones has several rows (int_accounts__zones picks one).
with

source as (

    select * from {{ source('raw', 'postcode_zones') }}

),

renamed as (

    select
        -- ids
        trim(postcode) as postcode,
        trim(zone_id) as zone_id,

        -- descriptive
        nullif(trim(zone_name), '') as zone_name,
        zone_weight,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
