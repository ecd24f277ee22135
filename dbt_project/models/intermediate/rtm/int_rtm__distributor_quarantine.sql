-- Grain: one row per distributor x reported month x quarantine reason (the field or rule
-- named before the first ':' of the reason, e.g. 'quantity', 'sale_date', 'malformed row'):
-- quarantined lines of the month's current files (int_rtm__distributor_files.is_current).
-- A line breaking two rules counts once per reason.
with

quarantine as (

    select * from {{ ref('stg_ingestion__quarantine') }}
    where distributor_id is not null and source_name = 'distributor_sell_out'

),

files as (

    select * from {{ ref('int_rtm__distributor_files') }}
    where is_current

),

categorized as (

    select
        files.distributor_id,
        files.period_month,
        trim({{ dbt.split_part('quarantine.reason', "':'", 1) }}) as reason_field,
        quarantine.line_number
    from quarantine
    inner join files
        on
            quarantine.file_hash = files.file_hash
            and quarantine.distributor_id = files.distributor_id

),

final as (

    select
        distributor_id,
        period_month,
        reason_field,
        count(*) as quarantined_lines
    from categorized
    group by distributor_id, period_month, reason_field

)

select * from final
