{#- Schema from var scoring_schema (default marts): `rtm whatif` builds into another one. -#}
{{ config(schema=var('scoring_schema', 'marts')) }}
-- Grain: one row per source (raw source name, e.g. distributor_sell_out, online_presence) that
-- delivered files, plus each source pinned in the scoring config (reliability.fixed).
--   completeness = rows loaded / rows read over the current files (loaded, not superseded):
--                  what the quarantine kept out lowers it.
--   timeliness   = distributor feeds only: months of r12 whose delivery (the month after)
--                  arrived, / 12, averaged over distributors; 1 for other sources (not measured).
--   consistency  = distributor feeds only: per distributor, min(sell-out, sell-in) / max(...)
--                  in bottles over r12, averaged weighted by sell-in; 1 for other sources.
--   reliability  = max(reliability.floor, completeness x timeliness x consistency), or the
--                  pinned value of reliability.fixed.
{%- set cfg = var('scoring') %}
{%- set fixed = cfg.reliability.fixed or {} %}
with

deliveries as (

    select * from {{ ref('stg_ingestion__file_deliveries') }}

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

volumes as (

    select
        source_name,
        count(*) as files_loaded,
        sum(rows_read) as rows_read,
        sum(rows_loaded) as rows_loaded,
        sum(rows_quarantined) as rows_quarantined,
        max(delivered_at) as last_delivered_at
    from deliveries
    where is_loaded
    group by source_name

),

delivery_months as (

    select
        deliveries.distributor_id,
        count(distinct {{ month_start('deliveries.delivered_at') }}) as months_delivered
    from deliveries
    cross join periods
    where
        deliveries.source_name = 'distributor_sell_out'
        and (deliveries.is_loaded or deliveries.is_duplicate or deliveries.is_superseded)
        and deliveries.delivered_at
        >= {{ dbt.dateadd('month', 1, 'periods.r12_start') }}
        and deliveries.delivered_at
        < {{ dbt.dateadd('month', 2, 'periods.as_of_month_start') }}
    group by deliveries.distributor_id

),

sell_out as (

    select
        sell_out.distributor_id,
        sum(sell_out.quantity_bottles) as bottles
    from {{ ref('int_sell_out_lines__converted') }} as sell_out
    cross join periods
    where sell_out.sale_month between periods.r12_start and periods.as_of_month_start
    group by sell_out.distributor_id

),

sell_in as (

    select
        sell_in.distributor_id,
        sum(sell_in.quantity_bottles) as bottles
    from {{ ref('int_sell_in_lines__converted') }} as sell_in
    cross join periods
    where
        sell_in.customer_type = 'distributor'
        and sell_in.invoice_month between periods.r12_start and periods.as_of_month_start
    group by sell_in.distributor_id

),

per_distributor as (

    select
        coalesce(delivery_months.distributor_id, sell_in.distributor_id) as distributor_id,
        least(coalesce(delivery_months.months_delivered, 0), 12) / 12.0 as timeliness,
        coalesce(sell_in.bottles, 0) as sell_in_bottles,
        case
            when coalesce(sell_in.bottles, 0) <= 0 or coalesce(sell_out.bottles, 0) <= 0 then 0.0
            else least(sell_out.bottles, sell_in.bottles) / greatest(sell_out.bottles, sell_in.bottles)
        end as consistency
    from delivery_months
    full outer join sell_in on delivery_months.distributor_id = sell_in.distributor_id
    left join sell_out
        on coalesce(delivery_months.distributor_id, sell_in.distributor_id) = sell_out.distributor_id

),

distributor_figures as (

    select
        'distributor_sell_out' as source_name,
        avg(timeliness) as timeliness,
        case
            when sum(sell_in_bottles) > 0
                then sum(consistency * sell_in_bottles) / sum(sell_in_bottles)
        end as consistency,
        count(*) as distributors_count
    from per_distributor

),

measured as (

    select
        volumes.source_name,
        volumes.files_loaded,
        volumes.rows_read,
        volumes.rows_loaded,
        volumes.rows_quarantined,
        volumes.last_delivered_at,
        case
            when volumes.rows_read > 0 then 1.0 * volumes.rows_loaded / volumes.rows_read
            else 1.0
        end as completeness,
        coalesce(distributor_figures.timeliness, 1.0) as timeliness,
        coalesce(distributor_figures.consistency, 1.0) as consistency,
        case
            when distributor_figures.source_name is not null
                then 'measured: completeness, timeliness, consistency with sell-in'
            else 'measured: completeness (timeliness and consistency not measured)'
        end as method  -- noqa: RF04
    from volumes
    left join distributor_figures on volumes.source_name = distributor_figures.source_name

),

all_sources as (

    select
        source_name,
        files_loaded,
        rows_read,
        rows_loaded,
        rows_quarantined,
        last_delivered_at,
        completeness,
        timeliness,
        consistency,
        greatest({{ cfg.reliability.floor }}, completeness * timeliness * consistency)
            as computed_reliability,
        method
    from measured
    {%- if fixed %}
    where source_name not in ('{{ fixed.keys() | join("', '") }}')
    {%- endif %}
    {%- for source, value in fixed.items() %}

    union all

    select
        '{{ source }}' as source_name,
        null as files_loaded,
        null as rows_read,
        null as rows_loaded,
        null as rows_quarantined,
        null as last_delivered_at,
        null as completeness,
        null as timeliness,
        null as consistency,
        {{ value }} as computed_reliability,
        'fixed in the scoring config (reliability.fixed)' as method
    {%- endfor %}

),

final as (

    select
        cast(source_name as {{ dbt.type_string() }}) as source_name,
        cast(files_loaded as {{ dbt.type_bigint() }}) as files_loaded,
        cast(rows_read as {{ dbt.type_bigint() }}) as rows_read,
        cast(rows_loaded as {{ dbt.type_bigint() }}) as rows_loaded,
        cast(rows_quarantined as {{ dbt.type_bigint() }}) as rows_quarantined,
        cast(last_delivered_at as {{ dbt.type_timestamp() }}) as last_delivered_at,
        cast(round(completeness, 4) as {{ type_double() }}) as completeness,
        cast(round(timeliness, 4) as {{ type_double() }}) as timeliness,
        cast(round(consistency, 4) as {{ type_double() }}) as consistency,
        cast(round(computed_reliability, 4) as {{ type_double() }}) as reliability,
        cast(method as {{ dbt.type_string() }}) as method  -- noqa: RF04
    from all_sources

)

select * from final
