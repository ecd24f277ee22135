-- Grain: one row per territory (territory_id), latest territory design.
with

source as (

    select * from {{ source('raw', 'territories') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by territory_id
            order by _loaded_at desc, _source_file desc, _source_line desc
        ) as version_rank
    from source

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

    from versioned
    where version_rank = 1

)

select * from renamed
