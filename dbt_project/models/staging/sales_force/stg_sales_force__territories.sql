-- Grain: one row per territory (territory_id), from the territory design snapshot.
with

source as (

    select * from {{ source('raw', 'territories') }}

),

renamed as (

    select
        -- ids
        territory_id,

        -- descriptive
        territory_name,
        region,
        departments as department_codes,
        manager_name,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
