-- Grain: one row per delivered file (path + content hash + processing time) and its outcome.
with

source as (

    select * from {{ source('raw', 'file_deliveries') }}

),

renamed as (

    select
        -- ids
        {{ surrogate_key(['file', 'file_hash', 'loaded_at']) }} as delivery_id,
        file as file_path,
        file_hash,
        source as source_name,
        distributor_id,
        case
            when distributor_id is null then source
            else {{ dbt.concat(["source", "'/'", "distributor_id"]) }}
        end as file_family,

        -- categories
        status as delivery_status,
        status = 'loaded' as is_loaded,
        status = 'duplicate' as is_duplicate,
        status = 'superseded' as is_superseded,
        status = 'failed' as is_failed,
        duplicate_of,

        -- measures
        size_bytes,
        rows_read,
        rows_loaded,
        rows_quarantined,

        -- dates
        delivered_at,
        loaded_at

    from source

)

select * from renamed
