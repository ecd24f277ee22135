-- Grain: one row per quarantined record (source + file + line + reason), or per rejected file.
with

source as (

    select * from {{ source('raw', 'quarantine') }}

),

renamed as (

    select
        -- ids
        {{ surrogate_key(['source', 'file', 'file_hash', 'line', 'reason']) }} as quarantine_id,
        source as source_name,
        distributor_id,
        case
            when distributor_id is null then source
            else {{ dbt.concat(["source", "'/'", "distributor_id"]) }}
        end as file_family,
        file as file_path,
        file_hash,
        line as line_number,

        -- details
        reason,
        record as raw_record,
        line is null as is_whole_file,

        -- dates
        quarantined_at

    from source

)

select * from renamed
