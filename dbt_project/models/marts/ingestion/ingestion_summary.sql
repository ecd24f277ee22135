-- Grain: one row per source file family (file_family): a source, or source/distributor for
-- sell-out feeds (e.g. distributor_sell_out/D01). Counts files by outcome, and the rows read,
-- loaded and quarantined by the files whose rows are currently in raw (status 'loaded':
-- superseded and duplicate deliveries are counted as files, not as rows), so that
-- rows_loaded matches raw.<source> and quarantined_records matches raw.quarantine.
with

deliveries as (

    select * from {{ ref('stg_ingestion__file_deliveries') }}

),

quarantine as (

    select * from {{ ref('stg_ingestion__quarantine') }}

),

loaded_files as (

    select distinct
        file_path,
        file_hash
    from deliveries
    where is_loaded

),

quarantine_by_family as (

    -- records of the currently loaded files only (a superseded snapshot keeps its own
    -- quarantine rows in raw.quarantine, but its rows are no longer counted above)
    select
        quarantine.file_family,
        count(*) as quarantined_records
    from quarantine
    inner join loaded_files
        on
            quarantine.file_path = loaded_files.file_path
            and quarantine.file_hash = loaded_files.file_hash
    group by quarantine.file_family

),

delivery_totals as (

    select
        file_family,
        max(source_name) as source_name,
        max(distributor_id) as distributor_id,
        count(*) as files_delivered,
        sum(case when is_loaded then 1 else 0 end) as files_loaded,
        sum(case when is_duplicate then 1 else 0 end) as files_duplicate,
        sum(case when is_superseded then 1 else 0 end) as files_superseded,
        sum(case when is_failed then 1 else 0 end) as files_failed,
        coalesce(sum(case when is_loaded then rows_read end), 0) as rows_read,
        coalesce(sum(case when is_loaded then rows_loaded end), 0) as rows_loaded,
        coalesce(sum(case when is_loaded then rows_quarantined end), 0) as rows_quarantined,
        min(delivered_at) as first_delivered_at,
        max(delivered_at) as last_delivered_at,
        max(case when is_loaded then loaded_at end) as last_loaded_at
    from deliveries
    group by file_family

),

final as (

    select
        cast(delivery_totals.file_family as {{ dbt.type_string() }}) as file_family,
        cast(delivery_totals.source_name as {{ dbt.type_string() }}) as source_name,
        cast(delivery_totals.distributor_id as {{ dbt.type_string() }}) as distributor_id,
        cast(delivery_totals.files_delivered as {{ dbt.type_bigint() }}) as files_delivered,
        cast(delivery_totals.files_loaded as {{ dbt.type_bigint() }}) as files_loaded,
        cast(delivery_totals.files_duplicate as {{ dbt.type_bigint() }}) as files_duplicate,
        cast(delivery_totals.files_superseded as {{ dbt.type_bigint() }}) as files_superseded,
        cast(delivery_totals.files_failed as {{ dbt.type_bigint() }}) as files_failed,
        cast(delivery_totals.rows_read as {{ dbt.type_bigint() }}) as rows_read,
        cast(delivery_totals.rows_loaded as {{ dbt.type_bigint() }}) as rows_loaded,
        cast(delivery_totals.rows_quarantined as {{ dbt.type_bigint() }}) as rows_quarantined,
        cast(case
            when delivery_totals.rows_read > 0
                then 1.0 * delivery_totals.rows_quarantined / delivery_totals.rows_read
        end as {{ type_double() }}) as quarantine_rate,
        cast(coalesce(quarantine_by_family.quarantined_records, 0) as {{ dbt.type_bigint() }})
            as quarantined_records,
        cast(delivery_totals.first_delivered_at as {{ dbt.type_timestamp() }})
            as first_delivered_at,
        cast(delivery_totals.last_delivered_at as {{ dbt.type_timestamp() }}) as last_delivered_at,
        cast(delivery_totals.last_loaded_at as {{ dbt.type_timestamp() }}) as last_loaded_at
    from delivery_totals
    left join quarantine_by_family
        on delivery_totals.file_family = quarantine_by_family.file_family

)

select * from final
