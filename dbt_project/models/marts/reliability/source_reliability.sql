{#- Schema from var scoring_schema (default marts): `rtm whatif` builds into another one. -#}
{{ config(schema=var('scoring_schema', 'marts')) }}
-- Grain: one row per source (raw source name, e.g. distributor_sell_out, online_presence):
-- every source of var source_delivery_expectations (the data contracts), every other source
-- that delivered files, and each source pinned in the scoring config (reliability.fixed).
-- A source is measured per feed (one per distributor for distributor_sell_out, else one),
-- then averaged over its feeds. Deliveries = files that arrived (loaded, duplicate or
-- superseded; not failed).
--   completeness = periodic sources: periods of r12 with a delivery / expected periods
--                  (12 months; 4 quarters for quarterly feeds). The delivery for a period
--                  arrives in the period after it. Snapshot sources: 1 when the current
--                  extract loaded rows, else 0.
--   timeliness   = periodic: delivered periods whose delivery arrived by the due date
--                  (period end + latency_days) / delivered periods (0 when none).
--                  Snapshot: freshness of the newest extract at the end of as_of_month:
--                  1 when it is at most frequency + latency_days old, else allowed age /
--                  actual age.
--   consistency  = contract_pass_share (rows loaded / rows read over the current files:
--                  what the contract checks sent to quarantine lowers it) x sell_in_agreement
--                  (distributor_sell_out only: per distributor min(sell-out, sell-in) /
--                  max(...) in bottles over r12, averaged weighted by sell-in; 1 elsewhere).
--   reliability  = max(reliability.floor, completeness x timeliness x consistency), or the
--                  pinned value of reliability.fixed.
--   is_delivered = the company delivers the source (var sources_present, from the layouts
--                  configured in company.yaml; every source when the var is absent). A source
--                  it does not have keeps its row, with note naming the scoring criteria left
--                  out because of it (var scoring_excluded_criteria).
{%- set cfg = var('scoring') %}
{%- set present = var('sources_present', none) %}
{%- set notes = {} %}
{%- for e in var('scoring_excluded_criteria', []) or [] %}
    {%- for source in e.missing_sources %}
        {%- do notes.update({source: notes.get(source, []) + [e.criterion]}) %}
    {%- endfor %}
{%- endfor %}
{%- set fixed = cfg.reliability.fixed or {} %}
{%- set expectations = var('source_delivery_expectations', {}) or {} %}
{%- set period_months = {'day': 1, 'week': 1, 'month': 1, 'quarter': 3, 'year': 12} %}
{%- set frequency_days = {'day': 1, 'week': 7, 'month': 31, 'quarter': 92, 'year': 366} %}
{%- for source, e in expectations.items() %}
    {%- if e.mode not in ('periodic', 'snapshot') or e.frequency not in period_months %}
        {{ exceptions.raise_compiler_error(
            "source_delivery_expectations." ~ source ~ ": mode must be periodic or snapshot and "
            ~ "frequency one of " ~ (period_months.keys() | list | join(', '))) }}
    {%- endif %}
{%- endfor %}
with

deliveries as (

    select * from {{ ref('stg_ingestion__file_deliveries') }}

),

periods as (

    select * from {{ ref('int_reporting__periods') }}

),

age_reference as (

    -- day number (days since 1970-01-01) of the day after as_of_month: snapshot ages
    select
        {{ dbt.datediff("cast('1970-01-01' as date)", dbt.dateadd('day', 1, 'as_of_month_end'), 'day') }}
            as age_reference_day
    from periods

),

expectations as (

    {%- if expectations %}
        {%- for source, e in expectations.items() %}
            select
                '{{ source }}' as source_name,
                '{{ e.mode }}' as delivery_mode,
                {{ period_months[e.frequency] }} as period_months,
                {{ 12 // period_months[e.frequency] }} as expected_periods,
                {{ frequency_days[e.frequency] + e.latency_days }} as allowed_age_days,
                {{ e.latency_days }} as latency_days
            {%- if not loop.last %}
                union all
            {%- endif %}
        {%- endfor %}
    {%- else %}
        select
            cast(null as {{ dbt.type_string() }}) as source_name,
            cast(null as {{ dbt.type_string() }}) as delivery_mode,
            1 as period_months,
            12 as expected_periods,
            1 as allowed_age_days,
            0 as latency_days
        where false
    {%- endif %}

),

volumes as (

    select
        source_name,
        count(*) as files_loaded,
        sum(rows_read) as rows_read,
        sum(rows_loaded) as rows_loaded,
        sum(rows_quarantined) as rows_quarantined,
        max(delivered_at) as last_delivered_at,
        -- day number of the newest delivery (days since 1970-01-01), for its age
        max({{ dbt.datediff("cast('1970-01-01' as date)", 'delivered_at', 'day') }})
            as last_delivered_day
    from deliveries
    where is_loaded
    group by source_name

),

sources as (

    select
        coalesce(expectations.source_name, volumes.source_name) as source_name,
        -- a source without expectations is treated as a daily snapshot
        coalesce(expectations.delivery_mode, 'snapshot') as delivery_mode,
        coalesce(expectations.period_months, 1) as period_months,
        coalesce(expectations.expected_periods, 12) as expected_periods,
        coalesce(expectations.allowed_age_days, 2) as allowed_age_days,
        coalesce(expectations.latency_days, 1) as latency_days
    from expectations
    full outer join volumes on expectations.source_name = volumes.source_name

),

arrivals as (

    -- every file that arrived, with the period it reports on (the one before its arrival)
    select
        deliveries.source_name,
        coalesce(deliveries.distributor_id, '') as feed,
        deliveries.delivered_at,
        sources.period_months,
        sources.latency_days,
        floor(
            {{ dbt.datediff('periods.r12_start', month_start('deliveries.delivered_at'), 'month') }}
            / sources.period_months
        ) - 1 as period_index,
        periods.r12_start
    from deliveries
    inner join sources on deliveries.source_name = sources.source_name
    cross join periods
    where
        sources.delivery_mode = 'periodic'
        and (deliveries.is_loaded or deliveries.is_duplicate or deliveries.is_superseded)

),

arrivals_in_window as (

    select
        *,
        -- due: the period's end + latency_days (delivered before the next day's start)
        delivered_at < {{ dbt.dateadd(
            'day', 'latency_days',
            dbt.dateadd('month', '(period_index + 1) * period_months', 'r12_start')
        ) }} as is_on_time
    from arrivals
    where period_index between 0 and 12 / period_months - 1

),

sell_out as (

    -- the stored fact (the same lines, converted once) rather than the conversion view,
    -- which converts every line of the history again (2.5 s of a night at 1M accounts)
    select
        sell_out.distributor_id,
        sum(sell_out.quantity_bottles) as bottles
    from {{ ref('int_sell_out_lines__linked') }} as sell_out
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

feeds as (

    -- the feeds expected from each periodic source: those that delivered anything, plus
    -- distributors invoiced by the ERP (a distributor that never reports still counts)
    select distinct
        deliveries.source_name,
        coalesce(deliveries.distributor_id, '') as feed
    from deliveries
    inner join sources on deliveries.source_name = sources.source_name
    where sources.delivery_mode = 'periodic'

    union

    select
        'distributor_sell_out' as source_name,
        distributor_id as feed
    from sell_in
    where distributor_id is not null

    union

    -- a periodic source that never delivered: one feed with nothing
    select
        sources.source_name,
        '' as feed
    from sources
    where
        sources.delivery_mode = 'periodic'
        and not exists (
            select 1 from deliveries
            where deliveries.source_name = sources.source_name
        )
        and sources.source_name <> 'distributor_sell_out'

),

periodic_feeds as (

    select
        feeds.source_name,
        feeds.feed,
        sources.expected_periods,
        count(distinct arrivals_in_window.period_index) as delivered_periods,
        count(distinct case when arrivals_in_window.is_on_time then arrivals_in_window.period_index end)
            as on_time_periods
    from feeds
    inner join sources on feeds.source_name = sources.source_name
    left join arrivals_in_window
        on
            feeds.source_name = arrivals_in_window.source_name
            and feeds.feed = arrivals_in_window.feed
    group by feeds.source_name, feeds.feed, sources.expected_periods

),

periodic_figures as (

    select
        source_name,
        count(*) as feeds_count,
        sum(expected_periods) as expected_periods,
        sum(delivered_periods) as delivered_periods,
        sum(on_time_periods) as on_time_periods,
        avg(least(1.0, 1.0 * delivered_periods / expected_periods)) as completeness,
        avg(case
            when delivered_periods > 0 then 1.0 * on_time_periods / delivered_periods
            else 0.0
        end) as timeliness
    from periodic_feeds
    group by source_name

),

agreement_per_distributor as (

    select
        sell_in.distributor_id,
        coalesce(sell_in.bottles, 0) as sell_in_bottles,
        case
            when coalesce(sell_in.bottles, 0) <= 0 or coalesce(sell_out.bottles, 0) <= 0 then 0.0
            else least(sell_out.bottles, sell_in.bottles) / greatest(sell_out.bottles, sell_in.bottles)
        end as agreement
    from sell_in
    left join sell_out on sell_in.distributor_id = sell_out.distributor_id
    where sell_in.distributor_id is not null

),

sell_in_agreement as (

    select
        'distributor_sell_out' as source_name,
        case
            when sum(sell_in_bottles) > 0
                then sum(agreement * sell_in_bottles) / sum(sell_in_bottles)
        end as sell_in_agreement
    from agreement_per_distributor

),

measured as (

    select
        sources.source_name,
        sources.delivery_mode,
        volumes.files_loaded,
        volumes.rows_read,
        volumes.rows_loaded,
        volumes.rows_quarantined,
        volumes.last_delivered_at,
        periodic_figures.feeds_count,
        periodic_figures.expected_periods,
        periodic_figures.delivered_periods,
        periodic_figures.on_time_periods,
        case
            when sources.delivery_mode = 'periodic' then coalesce(periodic_figures.completeness, 0.0)
            when coalesce(volumes.rows_loaded, 0) > 0 then 1.0
            else 0.0
        end as completeness,
        case
            when sources.delivery_mode = 'periodic' then coalesce(periodic_figures.timeliness, 0.0)
            when volumes.last_delivered_at is null then 0.0
            else least(1.0, 1.0 * sources.allowed_age_days / greatest(
                    sources.allowed_age_days, periods.age_reference_day - volumes.last_delivered_day
                ))
        end as timeliness,
        case
            when coalesce(volumes.rows_read, 0) > 0 then 1.0 * volumes.rows_loaded / volumes.rows_read
            when volumes.source_name is not null then 1.0
            else 0.0
        end as contract_pass_share,
        coalesce(sell_in_agreement.sell_in_agreement, 1.0) as sell_in_agreement
    from sources
    cross join age_reference as periods
    left join volumes on sources.source_name = volumes.source_name
    left join periodic_figures on sources.source_name = periodic_figures.source_name
    left join sell_in_agreement on sources.source_name = sell_in_agreement.source_name

),

all_sources as (

    select
        source_name,
        delivery_mode,
        files_loaded,
        rows_read,
        rows_loaded,
        rows_quarantined,
        last_delivered_at,
        feeds_count,
        expected_periods,
        delivered_periods,
        on_time_periods,
        completeness,
        timeliness,
        contract_pass_share,
        sell_in_agreement,
        contract_pass_share * sell_in_agreement as consistency,
        greatest(
            {{ cfg.reliability.floor }},
            completeness * timeliness * contract_pass_share * sell_in_agreement
        ) as computed_reliability,
        case
            when delivery_mode = 'periodic'
                then 'measured: periods delivered, on time, contract checks'
            else 'measured: current extract, freshness, contract checks'
        end
        || case
            when source_name = 'distributor_sell_out' then ', consistency with sell-in'
            else ''
        end as method  -- noqa: RF04
    from measured
    {%- if fixed %}
        where source_name not in ('{{ fixed.keys() | join("', '") }}')
    {%- endif %}
    {%- for source, value in fixed.items() %}

        union all

        select
            '{{ source }}' as source_name,
            null as delivery_mode,
            null as files_loaded,
            null as rows_read,
            null as rows_loaded,
            null as rows_quarantined,
            null as last_delivered_at,
            null as feeds_count,
            null as expected_periods,
            null as delivered_periods,
            null as on_time_periods,
            null as completeness,
            null as timeliness,
            null as contract_pass_share,
            null as sell_in_agreement,
            null as consistency,
            {{ value }} as computed_reliability,
            'fixed in the scoring config (reliability.fixed)' as method  -- noqa: RF04
    {%- endfor %}

),

final as (

    select
        cast(source_name as {{ dbt.type_string() }}) as source_name,
        cast(delivery_mode as {{ dbt.type_string() }}) as delivery_mode,
        cast(files_loaded as {{ dbt.type_bigint() }}) as files_loaded,
        cast(rows_read as {{ dbt.type_bigint() }}) as rows_read,
        cast(rows_loaded as {{ dbt.type_bigint() }}) as rows_loaded,
        cast(rows_quarantined as {{ dbt.type_bigint() }}) as rows_quarantined,
        cast(last_delivered_at as {{ dbt.type_timestamp() }}) as last_delivered_at,
        cast(feeds_count as {{ dbt.type_bigint() }}) as feeds_count,
        cast(expected_periods as {{ dbt.type_bigint() }}) as expected_periods,
        cast(delivered_periods as {{ dbt.type_bigint() }}) as delivered_periods,
        cast(on_time_periods as {{ dbt.type_bigint() }}) as on_time_periods,
        cast(round(completeness, 4) as {{ type_double() }}) as completeness,
        cast(round(timeliness, 4) as {{ type_double() }}) as timeliness,
        cast(round(contract_pass_share, 4) as {{ type_double() }}) as contract_pass_share,
        cast(round(sell_in_agreement, 4) as {{ type_double() }}) as sell_in_agreement,
        cast(round(consistency, 4) as {{ type_double() }}) as consistency,
        cast(round(computed_reliability, 4) as {{ type_double() }}) as reliability,
        cast(method as {{ dbt.type_string() }}) as method,  -- noqa: RF04
        {%- if present is none %}
            true as is_delivered,
        {%- else %}
        source_name in ('{{ (present + (fixed.keys() | list)) | join("', '") }}') as is_delivered,
        {%- endif %}
        {%- if present is none %}
            cast(null as {{ dbt.type_string() }}) as note
        {%- else %}
        cast(case
            when source_name not in ('{{ (present + (fixed.keys() | list)) | join("', '") }}')
                then 'not delivered by this company'
        end
        {%- for source, criteria in notes.items() %}
            || case when source_name = '{{ source }}'
                then '; criteria left out of the scores: {{ criteria | join(", ") }}' else '' end
        {%- endfor %}
        as {{ dbt.type_string() }}) as note
        {%- endif %}
    from all_sources

)

select * from final
