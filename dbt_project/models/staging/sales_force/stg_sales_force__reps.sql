-- Grain: one row per sales rep (rep_id), from the roster snapshot.
with

source as (

    select * from {{ source('raw', 'sales_reps') }}

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

    from source

)

select * from renamed
