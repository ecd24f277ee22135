-- Grain: one row per sales rep (rep_id), latest roster version.
with

source as (

    select * from {{ source('raw', 'sales_reps') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by rep_id
            order by _loaded_at desc, _source_file desc, _source_line desc
        ) as version_rank
    from source

),

renamed as (

    select
        -- ids
        rep_id,
        territory_id,

        -- descriptive
        rep_name,
        role as rep_role,

        -- home base
        home_postcode,
        {{ department_code('home_postcode') }} as home_department_code,
        home_latitude,
        home_longitude,

        -- capacity
        weekly_capacity_hours,

        -- dates
        start_date,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from versioned
    where version_rank = 1

)

select * from renamed
