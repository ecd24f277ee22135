-- Grain: one row per distributor sell-out file delivery (delivery_id): the reported month it
-- covers and how it went. period_month = the month most of its loaded lines were sold in;
-- for a file without loaded lines (failed, superseded, every line quarantined) the month
-- before its delivery month. is_current: the delivery whose lines stand (status loaded);
-- duplicates (identical content re-sent), superseded and failed deliveries are kept for the
-- delivery dates.
with

deliveries as (

    select * from {{ ref('stg_ingestion__file_deliveries') }}
    where distributor_id is not null and source_name = 'distributor_sell_out'

),

lines as (

    select
        file_hash,
        sale_month
    from {{ ref('stg_distributors__sell_out_lines') }}

),

file_months as (

    select
        file_hash,
        sale_month,
        count(*) as lines_in_month
    from lines
    group by file_hash, sale_month

),

ranked_months as (

    select
        file_hash,
        sale_month,
        row_number() over (
            partition by file_hash order by lines_in_month desc, sale_month asc
        ) as month_rank
    from file_months

),

file_period as (

    select
        file_hash,
        sale_month as period_month
    from ranked_months
    where month_rank = 1

),

final as (

    select
        deliveries.delivery_id,
        deliveries.distributor_id,
        deliveries.file_path,
        deliveries.file_hash,
        deliveries.delivery_status,
        deliveries.is_loaded as is_current,
        deliveries.is_duplicate,
        deliveries.is_failed,
        coalesce(
            file_period.period_month,
            {{ add_months(month_start('deliveries.delivered_at'), -1) }}
        ) as period_month,
        case when file_period.period_month is not null then 'lines' else 'delivery_date' end
            as period_source,
        deliveries.delivered_at,
        coalesce(deliveries.rows_read, 0) as rows_read,
        coalesce(deliveries.rows_loaded, 0) as rows_loaded,
        coalesce(deliveries.rows_quarantined, 0) as rows_quarantined
    from deliveries
    left join file_period on deliveries.file_hash = file_period.file_hash

)

select * from final
