-- Grain: one row per delivered file (path + content hash + processing time) and its outcome.
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
