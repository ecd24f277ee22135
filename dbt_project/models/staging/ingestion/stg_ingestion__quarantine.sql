-- Grain: one row per quarantined record (source + file + line + reason), or per rejected file.
-- Every ingestion asset writes this table: ordering for orchestrators that split the dbt
-- build (Dagster runs dbt in steps around account linking), no data is read from these.
-- depends_on: {{ source('raw', 'crm_accounts') }}
-- depends_on: {{ source('raw', 'erp_sell_in') }}
-- depends_on: {{ source('raw', 'products') }}
-- depends_on: {{ source('raw', 'sales_reps') }}
-- depends_on: {{ source('raw', 'territories') }}
-- depends_on: {{ source('raw', 'call_log') }}
-- depends_on: {{ source('raw', 'ap_spend') }}
-- depends_on: {{ source('raw', 'field_surveys') }}
-- depends_on: {{ source('raw', 'distributor_sell_out') }}
-- depends_on: {{ source('raw', 'online_presence') }}
-- depends_on: {{ source('raw', 'external_firmographics') }}
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
