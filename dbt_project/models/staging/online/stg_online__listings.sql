-- Grain: one row per online listing (listing_id = source_record_id): the latest version by
-- updated_at, since every incremental pull appends the records that changed.
with

source as (

    select * from {{ source('raw', 'online_presence') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by source_record_id
            order by updated_at desc, _loaded_at desc, _source_file desc, _source_line desc
        ) as version_rank,
        count(*) over (partition by source_record_id) as versions_count
    from source

),

renamed as (

    select
        -- ids
        source_record_id as listing_id,

        -- categories
        platform,

        -- descriptive
        name as listing_name,
        nullif(trim(address), '') as address,
        nullif(trim(postcode), '') as postcode,
        nullif(trim(city), '') as city,
        {{ department_code("nullif(trim(postcode), '')") }} as department_code,
        nullif(trim(phone), '') as phone,
        nullif(trim(website), '') as website,
        latitude,
        longitude,

        -- metrics
        rating,
        review_count,
        followers,

        -- dates
        last_activity_date,
        updated_at,

        -- lineage
        versions_count,
        _source_file as source_file,
        _loaded_at as loaded_at

    from versioned
    where version_rank = 1

)

select * from renamed
